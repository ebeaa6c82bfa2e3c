namespace Serve.Models;

/// <summary>A random LoRA adapter: which base tensors it targets and how its factors are drawn.</summary>
public sealed record LoraSpec
{
    public static readonly IReadOnlyList<string> AllTargets =
        ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

    public int Rank { get; init; } = 4;
    public float Alpha { get; init; } = 8;

    /// <summary>Base tensor names without <c>blk.N.</c> and <c>.weight</c>; per-layer ones are adapted in every layer.</summary>
    public IReadOnlyList<string> Targets { get; init; } = AllTargets;

    public int Seed { get; init; } = 1;

    /// <summary>How the factors are stored: F32 (default) or F16 (half the bytes, as many trained adapters ship).</summary>
    public Serve.Gguf.GgmlType WeightType { get; init; } = Serve.Gguf.GgmlType.F32;
    public float Std { get; init; } = 0.05f;

    /// <summary>Written as general.architecture instead of the base's, for tests that llama.cpp rejects the adapter.</summary>
    public string? ArchitectureOverride { get; init; }

    /// <summary>Written as the adapter's own tokenizer.chat_template (which the server then uses for it); null: none.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Makes lora_a one column too wide, a shape llama.cpp rejects ("has incorrect shape").</summary>
    public bool WrongShapes { get; init; }
}
