namespace Serve.Training.Lora;

/// <summary>The base matrices LoRA can adapt, with their GGUF tensor names and Hugging Face/PEFT module names.</summary>
public static class LoraTarget
{
    public static readonly IReadOnlyList<string> All = ["q", "k", "v", "o", "gate", "up", "down"];

    public static string GgufName(string target) => target switch
    {
        "q" => "attn_q", "k" => "attn_k", "v" => "attn_v", "o" => "attn_output",
        "gate" => "ffn_gate", "up" => "ffn_up", "down" => "ffn_down",
        _ => throw new ArgumentException($"unknown LoRA target '{target}' (use q,k,v,o,gate,up,down)", nameof(target)),
    };

    public static string PeftModule(string target) => target switch
    {
        "q" => "self_attn.q_proj", "k" => "self_attn.k_proj", "v" => "self_attn.v_proj", "o" => "self_attn.o_proj",
        "gate" => "mlp.gate_proj", "up" => "mlp.up_proj", "down" => "mlp.down_proj",
        _ => throw new ArgumentException($"unknown LoRA target '{target}'", nameof(target)),
    };

    /// <summary>Accepts q,k,v,o,gate,up,down, GGUF names (attn_q) and PEFT names (q_proj); returns canonical short names.</summary>
    public static IReadOnlyList<string> Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArgumentException("no LoRA targets given");
        var result = new List<string>();
        foreach (var p in parts)
        {
            var canonical = p.ToLowerInvariant() switch
            {
                "q" or "attn_q" or "q_proj" => "q",
                "k" or "attn_k" or "k_proj" => "k",
                "v" or "attn_v" or "v_proj" => "v",
                "o" or "attn_output" or "o_proj" => "o",
                "gate" or "ffn_gate" or "gate_proj" => "gate",
                "up" or "ffn_up" or "up_proj" => "up",
                "down" or "ffn_down" or "down_proj" => "down",
                _ => throw new ArgumentException($"unknown LoRA target '{p}' (use q,k,v,o,gate,up,down)"),
            };
            if (!result.Contains(canonical)) result.Add(canonical);
        }
        return [.. All.Where(result.Contains)];
    }
}
