using System.Globalization;
using Serve.Gguf;
using Serve.Training.Lora;
using Serve.Training.Model;

namespace Serve.Training.Export;

/// <summary>
/// Writes a LoRA adapter in llama.cpp's GGUF adapter format: general.type=adapter, adapter.type=lora,
/// adapter.lora.alpha, and for each adapted base tensor W [in, out] (ggml order) <c>W.lora_a</c> [in, rank] and
/// <c>W.lora_b</c> [rank, out]. llama.cpp scales B·A by alpha / rank, so alpha is written as scale · rank, which also
/// carries rsLoRA's alpha / √rank. Factors stay in llama.cpp's q/k row layout, the one the trainer uses.
/// </summary>
/// <remarks>
/// A fused base tensor (phi3's attn_qkv holding q, k, v rows; ffn_up holding gate then up rows) has one adapter pair
/// in llama.cpp, applied to the whole fused product with scale alpha / (its own rank, lora_b's ne[0]). The parts'
/// factors are written as one pair of rank n·r: lora_a stacks the parts' A, lora_b is block-diagonal (each part's B in
/// its own rows and rank columns, zero elsewhere) times n, which makes alpha / (n·r) · n = alpha / r: exactly the sum
/// of the parts' updates. <c>serve.adapter.fused</c> records the layout so <see cref="Read"/> splits it back.
/// </remarks>
public static class GgufAdapterWriter
{
    public static void Write(string path, string architecture, double scale, IReadOnlyList<LoraFactor> factors, AdapterMetadata? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(factors);
        if (factors.Count == 0) throw new ArgumentException("an adapter needs at least one adapted tensor", nameof(factors));
        var ranks = factors.Select(f => f.Rank).Distinct().ToArray();
        if (ranks.Length != 1) throw new ArgumentException("all factors must share one rank (llama.cpp has one alpha per adapter)", nameof(factors));
        metadata ??= new AdapterMetadata();

        var writer = new GgufWriter();
        writer.Set("general.type", "adapter");
        writer.Set("general.architecture", architecture);
        writer.Set("general.name", metadata.Name ?? "serve-lora");
        writer.Set("adapter.type", "lora");
        writer.Set("adapter.lora.alpha", (float)(scale * ranks[0]));
        writer.Set("serve.adapter.rank", (uint)ranks[0]);
        writer.Set("serve.adapter.targets", string.Join(",", LoraTarget.All.Where(t => factors.Any(f => f.Target == t))));
        if (metadata.BaseModelSha256 is { } baseHash) writer.Set("serve.adapter.base_hash", baseHash);
        if (metadata.DatasetSha256 is { } dataHash) writer.Set("serve.training.dataset_hash", dataHash);
        if (metadata.TrainingConfigJson is { } config) writer.Set("serve.training.config", config);
        if (metadata.EvalLoss is { } eval) writer.Set("serve.training.eval_loss", (float)eval);
        if (metadata.BaseEvalLoss is { } baseEval) writer.Set("serve.training.base_eval_loss", (float)baseEval);
        if (metadata.Steps is { } steps) writer.Set("serve.training.steps", (uint)steps);

        var fusedLayout = new List<string>();
        foreach (var group in factors.GroupBy(f => f.BaseTensor))
        {
            var parts = group.ToArray();
            foreach (var f in parts)
                if (f.A.Length != f.Rank * f.In || f.B.Length != f.Out * f.Rank)
                    throw new ArgumentException($"factor sizes of {f.BaseTensor} do not match rank {f.Rank}, in {f.In}, out {f.Out}", nameof(factors));
            if (parts.Length == 1 && !parts[0].IsFused)
            {
                writer.AddTensor($"{parts[0].BaseTensor}.lora_a", [parts[0].In, parts[0].Rank], parts[0].A);
                writer.AddTensor($"{parts[0].BaseTensor}.lora_b", [parts[0].Rank, parts[0].Out], parts[0].B);
                continue;
            }
            var (a, b, rank, rows) = Fuse(parts);
            writer.AddTensor($"{group.Key}.lora_a", [parts[0].In, rank], a);
            writer.AddTensor($"{group.Key}.lora_b", [rank, rows], b);
            fusedLayout.Add($"{group.Key}:{string.Join(",", parts.Select(p => FormattableString.Invariant($"{p.Target}@{p.RowOffset}+{p.Out}")))}/{rows}");
        }
        if (fusedLayout.Count > 0) writer.Set("serve.adapter.fused", string.Join(";", fusedLayout));
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        writer.WriteTo(path);
    }

    private static (float[] A, float[] B, int Rank, long Rows) Fuse(IReadOnlyList<LoraFactor> parts)
    {
        var rows = parts[0].TensorRows;
        if (parts.Any(p => p.TensorRows != rows || p.In != parts[0].In || p.Rank != parts[0].Rank))
            throw new ArgumentException($"the parts of fused tensor {parts[0].BaseTensor} disagree on size or rank");
        int r = parts[0].Rank, n = parts.Count, rank = r * n;
        long inFeatures = parts[0].In;
        var a = new float[rank * inFeatures];
        var b = new float[rows * rank];
        for (var p = 0; p < n; p++)
        {
            parts[p].A.CopyTo(a, p * r * inFeatures);
            for (long row = 0; row < parts[p].Out; row++)
                for (var c = 0; c < r; c++)
                    b[(parts[p].RowOffset + row) * rank + p * r + c] = parts[p].B[row * r + c] * n;
        }
        return (a, b, rank, rows);
    }

    /// <summary>Splits a fused pair written by <see cref="Fuse"/> back into its parts (layout from serve.adapter.fused).</summary>
    private static IEnumerable<LoraFactor> Unfuse(string baseName, string layout, float[] a, float[] b, long inFeatures, int fusedRank)
    {
        var slash = layout.LastIndexOf('/');
        var rows = long.Parse(layout[(slash + 1)..], CultureInfo.InvariantCulture);
        var parts = layout[..slash].Split(',');
        var n = parts.Length;
        if (fusedRank % n != 0) throw new InvalidDataException($"fused adapter tensor '{baseName}' has rank {fusedRank} for {n} parts");
        var r = fusedRank / n;
        var layer = int.Parse(baseName.Split('.')[1], CultureInfo.InvariantCulture);
        for (var p = 0; p < n; p++)
        {
            var target = parts[p][..parts[p].IndexOf('@')];
            var span = parts[p][(parts[p].IndexOf('@') + 1)..].Split('+');
            long offset = long.Parse(span[0], CultureInfo.InvariantCulture), count = long.Parse(span[1], CultureInfo.InvariantCulture);
            var pa = a.AsSpan((int)(p * r * inFeatures), (int)(r * inFeatures)).ToArray();
            var pb = new float[count * r];
            for (long row = 0; row < count; row++)
                for (var c = 0; c < r; c++)
                    pb[row * r + c] = b[(offset + row) * fusedRank + p * r + c] / n;
            yield return new LoraFactor(baseName, layer, target, r, inFeatures, count, pa, pb, offset, rows);
        }
    }

    /// <summary>The trained factors of a model, in its fixed order.</summary>
    public static IReadOnlyList<LoraFactor> Factors(LlamaForCausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [.. model.LoraLinears().Select(p =>
        {
            var a = p.Linear.A.detach().cpu().contiguous().data<float>().ToArray();
            var b = p.Linear.B.detach().cpu().contiguous().data<float>().ToArray();
            var rank = (int)p.Linear.A.shape[0];
            var source = p.Linear.Source;
            return new LoraFactor(source.Tensor, p.Layer, p.Target, rank, p.Linear.A.shape[1], p.Linear.B.shape[0], a, b,
                source.IsFused ? source.Offset : 0, source.IsFused ? source.TensorRows : 0);
        })];
    }

    /// <summary>Reads the factors and the scale (alpha / rank) of a GGUF adapter.</summary>
    public static (IReadOnlyList<LoraFactor> Factors, double Scale, string Architecture) Read(string path)
    {
        using var file = GgufFile.Read(path);
        if (file.GetString("general.type") != "adapter" || file.GetString("adapter.type") != "lora")
            throw new InvalidDataException($"{path} is not a LoRA adapter (general.type/adapter.type)");
        var alpha = file.GetFloat32("adapter.lora.alpha") ?? 0f;
        var factors = new List<LoraFactor>();
        var fused = (file.GetString("serve.adapter.fused") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries)
            .ToDictionary(e => e[..e.IndexOf(':')], e => e[(e.IndexOf(':') + 1)..]);
        foreach (var a in file.Tensors.Where(t => t.Name.EndsWith(".lora_a", StringComparison.Ordinal)))
        {
            var baseName = a.Name[..^".lora_a".Length];
            var b = file.GetTensor(baseName + ".lora_b");
            if (fused.TryGetValue(baseName, out var layout))
            {
                factors.AddRange(Unfuse(baseName, layout, file.ReadTensorAsFloat32(a), file.ReadTensorAsFloat32(b), a.Shape[0], (int)a.Shape[1]));
                continue;
            }
            if (baseName.EndsWith(".attn_qkv.weight", StringComparison.Ordinal) || (file.Architecture == "phi3" && baseName.EndsWith(".ffn_up.weight", StringComparison.Ordinal)))
                throw new NotSupportedException($"adapter tensor '{baseName}' is fused and the file does not say how its parts are laid out (serve.adapter.fused)");
            var parts = baseName.Split('.');
            if (parts.Length != 4 || parts[0] != "blk") throw new NotSupportedException($"adapter tensor '{baseName}' is not a per-layer projection");
            var target = LoraTarget.Parse(parts[2])[0];
            factors.Add(new LoraFactor(baseName, int.Parse(parts[1], CultureInfo.InvariantCulture), target, (int)a.Shape[1], a.Shape[0], b.Shape[1],
                file.ReadTensorAsFloat32(a), file.ReadTensorAsFloat32(b)));
        }
        if (factors.Count == 0) throw new InvalidDataException($"{path} has no lora_a/lora_b tensors");
        var rank = (int)(file.GetInteger("serve.adapter.rank") ?? factors[0].Rank);
        return (factors, alpha == 0 ? 1.0 : alpha / rank, file.Architecture ?? "llama");
    }
}
