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

        foreach (var f in factors)
        {
            if (f.A.Length != f.Rank * f.In || f.B.Length != f.Out * f.Rank)
                throw new ArgumentException($"factor sizes of {f.BaseTensor} do not match rank {f.Rank}, in {f.In}, out {f.Out}", nameof(factors));
            writer.AddTensor($"{f.BaseTensor}.lora_a", [f.In, f.Rank], f.A);
            writer.AddTensor($"{f.BaseTensor}.lora_b", [f.Rank, f.Out], f.B);
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        writer.WriteTo(path);
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
            return new LoraFactor($"blk.{p.Layer}.{LoraTarget.GgufName(p.Target)}.weight", p.Layer, p.Target, rank,
                p.Linear.A.shape[1], p.Linear.B.shape[0], a, b);
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
        foreach (var a in file.Tensors.Where(t => t.Name.EndsWith(".lora_a", StringComparison.Ordinal)))
        {
            var baseName = a.Name[..^".lora_a".Length];
            var b = file.GetTensor(baseName + ".lora_b");
            var parts = baseName.Split('.');
            if (parts.Length != 4 || parts[0] != "blk") throw new NotSupportedException($"adapter tensor '{baseName}' is not a per-layer projection");
            var target = LoraTarget.Parse(parts[2])[0];
            factors.Add(new LoraFactor(baseName, int.Parse(parts[1], CultureInfo.InvariantCulture), target, (int)a.Shape[1], a.Shape[0], b.Shape[1],
                file.ReadTensorAsFloat32(a), file.ReadTensorAsFloat32(b)));
        }
        if (factors.Count == 0) throw new InvalidDataException($"{path} has no lora_a/lora_b tensors");
        var rank = factors[0].Rank;
        return (factors, alpha == 0 ? 1.0 : alpha / rank, file.Architecture ?? "llama");
    }
}
