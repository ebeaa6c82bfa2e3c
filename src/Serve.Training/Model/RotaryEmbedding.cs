using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// RoPE exactly as llama.cpp applies it to the LLAMA architecture (mode NORM): rotation of adjacent pairs
/// (x[2i], x[2i+1]) by pos * base^(-2i/d). GGUF files store q/k rows in that layout, so the weights are used as stored;
/// Hugging Face checkpoints rotate halves instead, which is why PEFT import/export permutes q/k rows.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos;
    private readonly Tensor _sin;

    public RotaryEmbedding(int headDim, int maxPositions, float freqBase)
    {
        var half = headDim / 2;
        var cos = new float[maxPositions * half];
        var sin = new float[maxPositions * half];
        for (var p = 0; p < maxPositions; p++)
        {
            for (var i = 0; i < half; i++)
            {
                var theta = p * Math.Pow(freqBase, -2.0 * i / headDim);
                cos[p * half + i] = (float)Math.Cos(theta);
                sin[p * half + i] = (float)Math.Sin(theta);
            }
        }
        _cos = tensor(cos, [maxPositions, half]);
        _sin = tensor(sin, [maxPositions, half]);
        MaxPositions = maxPositions;
    }

    public int MaxPositions { get; }

    /// <summary>x: [batch, seq, heads, headDim], positions 0..seq-1.</summary>
    public Tensor Apply(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], h = x.shape[2], d = x.shape[3];
        if (t > MaxPositions) throw new ArgumentException($"sequence of {t} tokens is longer than the RoPE table ({MaxPositions})");
        var cos = _cos.narrow(0, 0, t).to(x.device).view(1, t, 1, d / 2);
        var sin = _sin.narrow(0, 0, t).to(x.device).view(1, t, 1, d / 2);
        var pairs = x.view(b, t, h, d / 2, 2);
        var x0 = pairs.select(-1, 0);
        var x1 = pairs.select(-1, 1);
        var r0 = x0 * cos - x1 * sin;
        var r1 = x0 * sin + x1 * cos;
        return stack([r0, r1], -1).view(b, t, h, d).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
