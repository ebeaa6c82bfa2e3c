using Serve.Gguf;

namespace Serve.Models;

/// <summary>Writes random LoRA adapters in llama.cpp's GGUF adapter format for an existing base model.</summary>
/// <remarks>
/// For a base weight W with ggml shape [n_in, n_out], llama.cpp expects <c>&lt;name&gt;.lora_a</c> as [n_in, rank] and
/// <c>&lt;name&gt;.lora_b</c> as [rank, n_out] (ggml order) and adds scale * alpha / rank * B(A x). Both factors are
/// drawn non-zero so the adapter really changes the logits (a zero B, as in fresh training, would be a no-op).
/// </remarks>
public static class LoraMaker
{
    public static void Write(string adapterPath, string baseModelPath, LoraSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Rank <= 0) throw new ArgumentException($"rank must be positive, got {spec.Rank}", nameof(spec));
        if (spec.Targets.Count == 0) throw new ArgumentException("at least one target is needed", nameof(spec));

        Dictionary<string, long[]> shapes;
        string architecture;
        int blockCount;
        using (var baseModel = GgufFile.Read(baseModelPath))
        {
            architecture = baseModel.Architecture
                ?? throw new InvalidDataException($"{baseModelPath} has no general.architecture: not a model file");
            blockCount = (int)(baseModel.GetInteger($"{architecture}.block_count")
                ?? throw new InvalidDataException($"{baseModelPath} has no {architecture}.block_count"));
            shapes = baseModel.Tensors.ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);
        }

        var writer = new GgufWriter();
        writer.Set("general.type", "adapter");
        writer.Set("general.architecture", spec.ArchitectureOverride ?? architecture);
        writer.Set("general.name", $"random-lora-r{spec.Rank}-seed{spec.Seed}"); // not the file name: same spec, same bytes
        writer.Set("adapter.type", "lora");
        writer.Set("adapter.lora.alpha", spec.Alpha);
        writer.Set("serve.adapter.rank", (uint)spec.Rank);
        writer.Set("serve.adapter.base_hash", GgufFile.Sha256(baseModelPath));
        writer.Set("serve.maker.seed", spec.Seed);
        if (spec.ChatTemplate is not null) writer.Set("tokenizer.chat_template", spec.ChatTemplate);

        foreach (var name in TargetTensorNames(spec.Targets, blockCount, shapes))
        {
            var shape = shapes[name];
            if (shape.Length != 2) throw new ArgumentException($"base tensor '{name}' is not a matrix", nameof(spec));
            long nIn = shape[0], nOut = shape[1];
            long[] aShape = [spec.WrongShapes ? nIn + 1 : nIn, spec.Rank];
            long[] bShape = [spec.Rank, nOut];
            writer.AddTensor($"{name}.lora_a", aShape, new SeededNormal(spec.Seed, $"{name}.lora_a").Fill(aShape[0] * aShape[1], spec.Std), spec.WeightType);
            writer.AddTensor($"{name}.lora_b", bShape, new SeededNormal(spec.Seed, $"{name}.lora_b").Fill(bShape[0] * bShape[1], spec.Std), spec.WeightType);
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(adapterPath));
        if (directory is not null) Directory.CreateDirectory(directory);
        writer.WriteTo(adapterPath);
    }

    /// <summary>Lowercase hex SHA-256 of a file: how adapters and caches name the base model version.</summary>

    private static IEnumerable<string> TargetTensorNames(IReadOnlyList<string> targets, int blockCount, Dictionary<string, long[]> shapes)
    {
        foreach (var target in targets.Distinct(StringComparer.Ordinal))
        {
            // token_embd has flipped factor shapes in llama.cpp (see llm_build_inp_embd); not needed here.
            if (target == "token_embd") throw new NotSupportedException("LoRA on token_embd is not supported");
            if (shapes.ContainsKey($"blk.0.{target}.weight"))
            {
                for (var i = 0; i < blockCount; i++)
                {
                    var name = $"blk.{i}.{target}.weight";
                    if (!shapes.ContainsKey(name)) throw new ArgumentException($"base model has no tensor '{name}'", nameof(targets));
                    yield return name;
                }
            }
            else if (shapes.ContainsKey($"{target}.weight"))
            {
                yield return $"{target}.weight";
            }
            else
            {
                throw new ArgumentException($"base model has no tensor for target '{target}' (tried blk.N.{target}.weight and {target}.weight)", nameof(targets));
            }
        }
    }
}
