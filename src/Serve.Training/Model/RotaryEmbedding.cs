using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// RoPE exactly as llama.cpp applies it: angle pos · freqScale · base^(-2i/d) / factor[i] for frequency i, on adjacent
/// pairs (x[2i], x[2i+1]) in NORM mode (llama; GGUF stores its q/k rows in that layout, which is why PEFT import/export
/// permutes them) or on halves (x[i], x[i+d/2]) in NEOX mode (qwen2, qwen3, phi3, gemma). factor comes from
/// <c>rope_freqs.weight</c> (Llama 3.1/3.2's scaling) and is 1 without it.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos;
    private readonly Tensor _sin;
    private readonly RopeMode _mode;

    public RotaryEmbedding(int headDim, int maxPositions, float freqBase, RopeMode mode = RopeMode.Norm, float freqScale = 1f, float[]? freqFactors = null)
    {
        var half = headDim / 2;
        if (freqFactors is not null && freqFactors.Length != half)
            throw new InvalidDataException($"rope_freqs.weight has {freqFactors.Length} factors, expected {half} (head size {headDim} / 2)");
        var cos = new float[maxPositions * half];
        var sin = new float[maxPositions * half];
        for (var p = 0; p < maxPositions; p++)
        {
            for (var i = 0; i < half; i++)
            {
                var theta = p * (double)freqScale * Math.Pow(freqBase, -2.0 * i / headDim) / (freqFactors?[i] ?? 1f);
                cos[p * half + i] = (float)Math.Cos(theta);
                sin[p * half + i] = (float)Math.Sin(theta);
            }
        }
        _cos = tensor(cos, [maxPositions, half]);
        _sin = tensor(sin, [maxPositions, half]);
        _mode = mode;
        MaxPositions = maxPositions;
    }

    public int MaxPositions { get; }

    /// <summary>x: [batch, seq, heads, headDim]; positions [batch, seq] (int64), or null for 0..seq-1 in every row.</summary>
    public Tensor Apply(Tensor x, Tensor? positions = null)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], h = x.shape[2], d = x.shape[3];
        Tensor cos, sin;
        if (positions is null)
        {
            if (t > MaxPositions) throw new ArgumentException($"sequence of {t} tokens is longer than the RoPE table ({MaxPositions})");
            cos = _cos.narrow(0, 0, t).to(x.device).view(1, t, 1, d / 2);
            sin = _sin.narrow(0, 0, t).to(x.device).view(1, t, 1, d / 2);
        }
        else
        {
            var flat = positions.reshape(-1).cpu();
            if (flat.max().item<long>() >= MaxPositions) throw new ArgumentException($"a position is beyond the RoPE table ({MaxPositions})");
            cos = _cos.index_select(0, flat).to(x.device).view(b, t, 1, d / 2);
            sin = _sin.index_select(0, flat).to(x.device).view(b, t, 1, d / 2);
        }
        if (_mode == RopeMode.Norm)
        {
            var pairs = x.view(b, t, h, d / 2, 2);
            var x0 = pairs.select(-1, 0);
            var x1 = pairs.select(-1, 1);
            return stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).view(b, t, h, d).MoveToOuterDisposeScope();
        }
        var first = x.narrow(-1, 0, d / 2);
        var second = x.narrow(-1, d / 2, d / 2);
        return cat([first * cos - second * sin, first * sin + second * cos], -1).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
