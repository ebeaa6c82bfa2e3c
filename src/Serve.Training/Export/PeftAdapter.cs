using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Serve.Gguf;
using Serve.Training.Lora;
using Serve.Training.Model;

namespace Serve.Training.Export;

/// <summary>
/// Hugging Face PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors) to and from our factors.
/// PEFT addresses Hugging Face's llama, whose q/k rows are in the rotate-halves RoPE layout: within each head, row
/// c·(d/2)+i there is row 2i+c in GGUF (convert_hf_to_gguf permutes the base weights the same way). So the rows of
/// lora_B for q and k are permuted on the way out and back on the way in; A, v, o and the MLP need nothing. qwen2,
/// qwen3 and gemma rotate halves in GGUF too, so theirs pass unchanged.
/// </summary>
public static partial class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";

    [GeneratedRegex(@"^(?:base_model\.model\.)?(?:model\.)?layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.lora_([AB])(?:\.default)?\.weight$")]
    private static partial Regex TensorName();

    public static void Export(string directory, IReadOnlyList<LoraFactor> factors, LoraOptions lora, LlamaConfig config, string? baseModel = null)
    {
        ArgumentNullException.ThrowIfNull(factors);
        ArgumentNullException.ThrowIfNull(config);
        RequireSeparateProjections(config, factors.Any(f => f.IsFused));
        Directory.CreateDirectory(directory);
        var tensors = new List<(string, long[], float[])>();
        foreach (var f in factors.OrderBy(f => f.Layer).ThenBy(f => LoraTargetOrder(f.Target)))
        {
            var prefix = $"base_model.model.model.layers.{f.Layer}.{LoraTarget.PeftModule(f.Target)}";
            var b = (f.Target, config.RopeMode) switch
            {
                ("q", RopeMode.Norm) => PermuteRows(f.B, f.Rank, config.HeadCount, config.HeadDim, toHuggingFace: true),
                ("k", RopeMode.Norm) => PermuteRows(f.B, f.Rank, config.HeadCountKv, config.HeadDim, toHuggingFace: true),
                _ => f.B,
            };
            tensors.Add(($"{prefix}.lora_A.weight", [f.Rank, f.In], f.A));
            tensors.Add(($"{prefix}.lora_B.weight", [f.Out, f.Rank], b));
        }
        SafeTensorsFile.Write(Path.Combine(directory, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });

        var targets = factors.Select(f => f.Target).Distinct().OrderBy(LoraTargetOrder).Select(t => LoraTarget.PeftModule(t).Split('.')[1]);
        var json = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModel,
            ["r"] = lora.Rank,
            ["lora_alpha"] = lora.Alpha,
            ["lora_dropout"] = lora.Dropout,
            ["use_rslora"] = lora.RsLora,
            ["target_modules"] = new JsonArray([.. targets.Select(t => (JsonNode)t)]),
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
        };
        File.WriteAllText(Path.Combine(directory, ConfigFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads a PEFT adapter directory for a base model; returns factors in GGUF layout and the LoRA settings.</summary>
    public static (IReadOnlyList<LoraFactor> Factors, LoraOptions Lora) Import(string directory, GgufFile baseModel)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        var configPath = Path.Combine(directory, ConfigFile);
        var weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"no {ConfigFile} in {directory}", configPath);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"no {WeightsFile} in {directory}", weightsPath);
        var config = LlamaConfig.FromGguf(baseModel);
        RequireSeparateProjections(config, baseModel.TryGetTensor("blk.0.attn_qkv.weight", out _));

        using var document = JsonDocument.Parse(File.ReadAllText(configPath));
        var root = document.RootElement;
        if (root.TryGetProperty("peft_type", out var type) && type.GetString() != "LORA")
            throw new NotSupportedException($"PEFT type {type.GetString()} is not supported (LORA only)");
        var rank = root.GetProperty("r").GetInt32();
        var alpha = root.TryGetProperty("lora_alpha", out var a) ? a.GetSingle() : rank;
        var rslora = root.TryGetProperty("use_rslora", out var rs) && rs.ValueKind == JsonValueKind.True;
        var dropout = root.TryGetProperty("lora_dropout", out var dr) ? dr.GetSingle() : 0f;
        if (root.TryGetProperty("fan_in_fan_out", out var fifo) && fifo.ValueKind == JsonValueKind.True)
            throw new NotSupportedException("fan_in_fan_out adapters (GPT-2 style Conv1D) are not llama adapters");
        if (root.TryGetProperty("rank_pattern", out var rp) && rp.ValueKind == JsonValueKind.Object && rp.EnumerateObject().Any())
            throw new NotSupportedException("per-module ranks (rank_pattern) cannot be expressed with llama.cpp's single alpha");

        var pairs = new Dictionary<(int Layer, string Target), (float[]? A, long[]? AShape, float[]? B, long[]? BShape)>();
        foreach (var (name, (shape, values)) in SafeTensorsFile.Read(weightsPath))
        {
            var match = TensorName().Match(name);
            if (!match.Success) throw new NotSupportedException($"PEFT tensor '{name}' is not a llama q/k/v/o/gate/up/down LoRA factor");
            var layer = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            var target = LoraTarget.Parse(match.Groups[2].Value.Split('.')[1])[0];
            pairs.TryGetValue((layer, target), out var entry);
            pairs[(layer, target)] = match.Groups[3].Value == "A" ? entry with { A = values, AShape = shape } : entry with { B = values, BShape = shape };
        }

        var factors = new List<LoraFactor>();
        foreach (var ((layer, target), entry) in pairs.OrderBy(p => p.Key.Layer).ThenBy(p => LoraTargetOrder(p.Key.Target)))
        {
            var baseName = $"blk.{layer}.{LoraTarget.GgufName(target)}.weight";
            if (entry.A is null || entry.B is null) throw new InvalidDataException($"layer {layer} {target}: lora_A or lora_B is missing");
            if (!baseModel.TryGetTensor(baseName, out var baseTensor)) throw new InvalidDataException($"the base model has no {baseName}");
            long nIn = baseTensor.Shape[0], nOut = baseTensor.Shape[1];
            if (!entry.AShape!.SequenceEqual([rank, nIn]) || !entry.BShape!.SequenceEqual([nOut, rank]))
                throw new InvalidDataException($"{baseName}: PEFT factors [{string.Join(",", entry.AShape!)}] and [{string.Join(",", entry.BShape!)}] do not fit the base [{nOut}, {nIn}] at rank {rank}");
            var b = (target, config.RopeMode) switch
            {
                ("q", RopeMode.Norm) => PermuteRows(entry.B, rank, config.HeadCount, config.HeadDim, toHuggingFace: false),
                ("k", RopeMode.Norm) => PermuteRows(entry.B, rank, config.HeadCountKv, config.HeadDim, toHuggingFace: false),
                _ => entry.B,
            };
            factors.Add(new LoraFactor(baseName, layer, target, rank, nIn, nOut, entry.A, b));
        }
        if (factors.Count == 0) throw new InvalidDataException($"{weightsPath} holds no LoRA factors");
        var lora = new LoraOptions
        {
            Rank = rank, Alpha = alpha, RsLora = rslora, Dropout = dropout,
            Targets = [.. factors.Select(f => f.Target).Distinct().OrderBy(LoraTargetOrder)],
        };
        return (factors, lora);
    }

    /// <summary>Row permutation of a [heads·d, rank] matrix between GGUF's adjacent-pair and HF's half-split RoPE layouts.</summary>
    public static float[] PermuteRows(float[] rows, int rank, int heads, int headDim, bool toHuggingFace)
    {
        if (rows.Length != (long)heads * headDim * rank) throw new ArgumentException($"expected {heads * headDim} rows of {rank}", nameof(rows));
        var result = new float[rows.Length];
        var half = headDim / 2;
        for (var h = 0; h < heads; h++)
        {
            for (var i = 0; i < half; i++)
            {
                for (var c = 0; c < 2; c++)
                {
                    var gguf = h * headDim + 2 * i + c;
                    var hf = h * headDim + c * half + i;
                    var (from, to) = toHuggingFace ? (gguf, hf) : (hf, gguf);
                    Array.Copy(rows, from * rank, result, to * rank, rank);
                }
            }
        }
        return result;
    }

    /// <summary>
    /// Hugging Face's phi3 has fused qkv_proj and gate_up_proj modules, which this mapping does not name; its q/k rows are
    /// already in RoPE-halves order for every architecture but llama, so only llama's rows are permuted.
    /// </summary>
    private static void RequireSeparateProjections(LlamaConfig config, bool fused)
    {
        if (fused || config.Architecture == "phi3")
            throw new NotSupportedException($"PEFT export/import of fused projections ({config.Architecture}: qkv_proj, gate_up_proj) is not supported; use the GGUF adapter");
    }

    private static int LoraTargetOrder(string target) => LoraTarget.All.ToList().IndexOf(target);
}
