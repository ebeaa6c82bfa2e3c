using System.Runtime.InteropServices;
using Serve.Gguf;
using static TorchSharp.torch;

namespace Serve.Training.Export;

/// <summary>
/// Writes a base model with a GGUF LoRA adapter merged in, W' = W + scale · (alpha / rank) · B·A for every adapted
/// matrix (for a fused phi3 tensor, each part's update lands in its own rows), as one GGUF llama.cpp loads like the
/// base. Every other tensor and all metadata are copied byte for byte.
/// </summary>
public static class AdapterMerger
{
    /// <summary>Types the merged matrices can be written as (the ones GgufWriter produces from float32).</summary>
    public static readonly IReadOnlyList<GgmlType> WritableTypes = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0];

    /// <param name="storeAs">Type of the merged matrices; null keeps each base matrix's type when it is writable and uses F32 otherwise.</param>
    /// <returns>The number of merged matrices.</returns>
    public static int Merge(string basePath, string adapterPath, string outputPath, float scale = 1f, GgmlType? storeAs = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (storeAs is { } requested && !WritableTypes.Contains(requested))
            throw new NotSupportedException($"merged matrices cannot be written as {requested} (use {string.Join(", ", WritableTypes)})");
        var (factors, adapterScale, architecture) = GgufAdapterWriter.Read(adapterPath);
        using var file = GgufFile.Read(basePath);
        if (file.Architecture != architecture)
            throw new InvalidDataException($"the adapter is for '{architecture}' but the base model is '{file.Architecture}'");
        var byTensor = factors.GroupBy(f => f.BaseTensor).ToDictionary(g => g.Key, g => g.ToArray());
        foreach (var name in byTensor.Keys)
            if (!file.TryGetTensor(name, out _)) throw new InvalidDataException($"the adapter changes '{name}', which the base model does not have");

        var writer = new GgufWriter { Alignment = file.Alignment };
        foreach (var (key, value) in file.Metadata)
            if (key != GgufKeys.Alignment) writer.Set(key, value);
        writer.Set("serve.merge.adapter_sha256", GgufFile.Sha256(adapterPath));
        writer.Set("serve.merge.scale", scale);
        foreach (var t in file.Tensors)
        {
            if (!byTensor.TryGetValue(t.Name, out var parts))
            {
                writer.AddTensor(t.Name, t.Type, t.Shape.Length == 0 ? [1] : t.Shape, file.ReadTensorBytes(t));
                continue;
            }
            long inFeatures = t.Shape[0], rows = t.Shape[1];
            var weight = file.ReadTensorAsFloat32(t);
            using (var scope = NewDisposeScope())
            {
                var w = tensor(weight, [rows, inFeatures]);
                foreach (var f in parts)
                {
                    if (f.In != inFeatures || f.RowOffset + f.Out > rows)
                        throw new InvalidDataException($"adapter factors of '{t.Name}' ({f.Target}: in {f.In}, rows {f.RowOffset}+{f.Out}) do not fit [{rows}, {inFeatures}]");
                    var delta = tensor(f.B, [f.Out, f.Rank]).matmul(tensor(f.A, [f.Rank, inFeatures])).mul_(scale * adapterScale);
                    w.narrow(0, f.RowOffset, f.Out).add_(delta);
                }
                MemoryMarshal.Cast<byte, float>(w.bytes).CopyTo(weight);
            }
            var type = storeAs ?? (WritableTypes.Contains(t.Type) ? t.Type : GgmlType.F32);
            writer.AddTensor(t.Name, t.Shape, weight, type);
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (directory is not null) Directory.CreateDirectory(directory);
        writer.WriteTo(outputPath);
        return byTensor.Count;
    }
}
