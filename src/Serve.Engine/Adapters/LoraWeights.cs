using System.Globalization;
using Serve.Gguf;

namespace Serve.Engine.Adapters;

/// <summary>
/// One LoRA adapter's factors in managed float32 memory, for <see cref="Scheduling.BatchedLora"/> to apply per token.
/// For a base weight W (out x in) the adapter adds scale * B (A x) to W x, A being r x in and B out x r, with
/// scale = alpha / r as llama.cpp computes it (1 when the file has no alpha). B is kept transposed (r x out) so
/// the update is r contiguous multiply-adds.
/// </summary>
internal sealed class LoraWeights
{
    private readonly Dictionary<string, LoraPair> _pairs;

    private LoraWeights(Dictionary<string, LoraPair> pairs) => _pairs = pairs;

    /// <summary>The base weights (by GGUF tensor name, e.g. blk.0.attn_q.weight) this adapter changes.</summary>
    public IReadOnlyCollection<string> Targets => _pairs.Keys;

    public long Bytes => _pairs.Values.Sum(p => (long)(p.A.Length + p.BTransposed.Length) * sizeof(float));

    public bool TryGet(string weight, out LoraPair pair) => _pairs.TryGetValue(weight, out pair!);

    /// <summary>Reads the lora_a / lora_b pairs of a GGUF adapter (already validated by <see cref="AdapterFile"/>).</summary>
    public static LoraWeights Read(string path)
    {
        using var gguf = GgufFile.Read(path);
        var alpha = gguf.GetValue("adapter.lora.alpha") is { } a ? Convert.ToSingle(a.Value, CultureInfo.InvariantCulture) : 0f;
        var pairs = new Dictionary<string, LoraPair>(StringComparer.Ordinal);
        foreach (var ta in gguf.Tensors.Where(t => t.Name.EndsWith(".lora_a", StringComparison.Ordinal)))
        {
            var target = ta.Name[..^".lora_a".Length];
            var tb = gguf.GetTensor(target + ".lora_b");
            // ggml order: lora_a is [in, r] (r rows of in values), lora_b is [r, out] (out rows of r values).
            int inputs = checked((int)ta.Shape[0]), rank = checked((int)ta.Shape[1]), outputs = checked((int)tb.Shape[1]);
            if (tb.Shape[0] != rank) throw new InvalidDataException($"'{target}': lora_a has rank {rank}, lora_b {tb.Shape[0]}.");
            var factorA = gguf.ReadTensorAsFloat32(ta);
            var b = gguf.ReadTensorAsFloat32(tb);
            var bt = new float[b.Length];
            for (var o = 0; o < outputs; o++)
                for (var k = 0; k < rank; k++)
                    bt[k * outputs + o] = b[o * rank + k];
            pairs[target] = new LoraPair(rank, inputs, outputs, factorA, bt, alpha != 0 ? alpha / rank : 1f);
        }
        return new LoraWeights(pairs);
    }
}

/// <summary>The factors for one base weight: A (rank x inputs, row-major), B transposed (rank x outputs) and alpha / rank.</summary>
internal sealed record LoraPair(int Rank, int Inputs, int Outputs, float[] A, float[] BTransposed, float Scale);
