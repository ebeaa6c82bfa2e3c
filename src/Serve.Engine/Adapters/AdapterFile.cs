using System.Globalization;
using Serve.Gguf;

namespace Serve.Engine.Adapters;

/// <summary>
/// What a LoRA GGUF says about itself, checked against the base model's tensors the way llama.cpp checks them,
/// so a bad file is refused with a reason before llama.cpp sees it.
/// </summary>
internal sealed record AdapterFile(string Version, int Rank, float Alpha, string Architecture, string? BaseModelSha256,
    long SizeBytes, IReadOnlyDictionary<string, string> Metadata, IReadOnlyList<string> Targets)
{
    /// <summary>Metadata keys an adapter may name its base model's SHA-256 under.</summary>
    private static readonly string[] BaseHashKeys = ["serve.adapter.base_hash", "serve.base_model.sha256", "training.base_model.sha256"];

    public static AdapterFile Inspect(string path, BaseModelShapes baseModel)
    {
        GgufFile gguf;
        try
        {
            gguf = GgufFile.Read(path);
        }
        catch (Exception e) when (e is GgufFormatException or EndOfStreamException or InvalidDataException)
        {
            throw new AdapterValidationException($"Not a valid GGUF file: {e.Message}", e);
        }
        using (gguf)
        {
            var type = gguf.GetString("general.type");
            if (type != "adapter")
                throw new AdapterValidationException($"general.type is '{type ?? "(missing)"}', expected 'adapter'.");
            var adapterType = gguf.GetString("adapter.type");
            if (adapterType != "lora")
                throw new AdapterValidationException($"adapter.type is '{adapterType ?? "(missing)"}', expected 'lora'.");
            var architecture = gguf.Architecture ?? throw new AdapterValidationException("general.architecture is missing.");
            if (architecture != baseModel.Architecture)
                throw new AdapterValidationException($"The adapter is for architecture '{architecture}', the base model is '{baseModel.Architecture}'.");

            var (rank, targets) = CheckTensors(gguf, baseModel);
            var alpha = gguf.GetValue("adapter.lora.alpha") is { } a ? Convert.ToSingle(a.Value, CultureInfo.InvariantCulture) : rank;
            var metadata = gguf.Metadata
                .Where(kv => kv.Value.Type != GgufValueType.Array)
                .ToDictionary(kv => kv.Key, kv => Convert.ToString(kv.Value.Value, CultureInfo.InvariantCulture) ?? "", StringComparer.Ordinal);
            var baseHash = BaseHashKeys.Select(gguf.GetString).FirstOrDefault(h => !string.IsNullOrEmpty(h));
            if (baseHash is not null && baseModel.Sha256 is not null && !string.Equals(baseHash, baseModel.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new AdapterValidationException($"The adapter was made for base model {baseHash[..Math.Min(12, baseHash.Length)]}, this server's base model is {baseModel.Sha256[..12]}.");
            return new AdapterFile(GgufFile.Sha256(path), rank, alpha, architecture, baseHash, gguf.Length, metadata, targets);
        }
    }

    private static (int Rank, IReadOnlyList<string> Targets) CheckTensors(GgufFile gguf, BaseModelShapes baseModel)
    {
        var byName = gguf.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var rank = -1;
        var targets = new List<string>();
        foreach (var tensor in gguf.Tensors)
        {
            if (tensor.Name.EndsWith(".lora_b", StringComparison.Ordinal))
            {
                if (!byName.ContainsKey(tensor.Name[..^2] + "_a"))
                    throw new AdapterValidationException($"Tensor '{tensor.Name}' has no matching lora_a.");
                continue;
            }
            if (!tensor.Name.EndsWith(".lora_a", StringComparison.Ordinal))
                throw new AdapterValidationException($"Unexpected tensor '{tensor.Name}': an adapter holds only .lora_a/.lora_b pairs.");
            var target = tensor.Name[..^".lora_a".Length];
            if (!byName.TryGetValue(target + ".lora_b", out var b))
                throw new AdapterValidationException($"Tensor '{tensor.Name}' has no matching lora_b.");
            if (!baseModel.Shapes.TryGetValue(target, out var w))
                throw new AdapterValidationException($"The base model has no tensor '{target}' for '{tensor.Name}'.");
            var aShape = tensor.Shape;
            var bShape = b.Shape;
            if (aShape.Length != 2 || bShape.Length != 2 || w.Length < 2)
                throw new AdapterValidationException($"'{target}': LoRA factors must be matrices.");
            if (aShape[1] != bShape[0])
                throw new AdapterValidationException($"'{target}': lora_a is [{aShape[0]}, {aShape[1]}] and lora_b [{bShape[0]}, {bShape[1]}]; their ranks differ.");
            if (aShape[0] != w[0] || bShape[1] != w[1])
                throw new AdapterValidationException(
                    $"'{target}': the base tensor is [{w[0]}, {w[1]}], so lora_a must be [{w[0]}, r] and lora_b [r, {w[1]}]; got [{aShape[0]}, {aShape[1]}] and [{bShape[0]}, {bShape[1]}].");
            rank = Math.Max(rank, (int)aShape[1]);
            targets.Add(target);
        }
        if (targets.Count == 0) throw new AdapterValidationException("The adapter has no LoRA tensors.");
        return (rank, targets);
    }
}
