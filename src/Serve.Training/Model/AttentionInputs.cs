using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// What every attention layer of one forward pass shares: RoPE positions and which keys each query may see. The model
/// sets it at the start of a forward pass and keeps it until the next one, because gradient checkpointing runs the
/// layers again during backward. Null tensors mean the plain case: positions 0..t-1 and a causal mask.
/// </summary>
public sealed class AttentionInputs : IDisposable
{
    /// <summary>[batch, seq] int64 position of each token within its own example (packed rows restart at 0).</summary>
    public Tensor? Positions { get; private set; }

    /// <summary>[batch, 1, seq, seq] bool, true where query i may attend key j (causal, same example).</summary>
    public Tensor? FullMask { get; private set; }

    /// <summary>As <see cref="FullMask"/> and also within the sliding window; null when the model has none.</summary>
    public Tensor? SlidingMask { get; private set; }

    /// <summary>Rebuilds the shared tensors for a batch of <paramref name="length"/> tokens a row.</summary>
    /// <param name="segments">[batch][seq] example number of each token (packing), or null for one example a row.</param>
    public void Set(int batch, int length, int[][]? segments, int slidingWindow, Device device)
    {
        Clear();
        if (segments is null && slidingWindow <= 0) return;
        var positions = new long[batch * length];
        var full = new bool[batch * length * length];
        var sliding = slidingWindow > 0 ? new bool[batch * length * length] : null;
        for (var r = 0; r < batch; r++)
        {
            var start = 0;
            for (var i = 0; i < length; i++)
            {
                if (segments is not null && i > 0 && segments[r][i] != segments[r][i - 1]) start = i;
                positions[r * length + i] = i - start;
                for (var j = start; j <= i; j++)
                {
                    var at = (r * length + i) * length + j;
                    full[at] = true;
                    if (sliding is not null) sliding[at] = i - j < slidingWindow; // llama.cpp masks p1 - p0 >= n_swa
                }
            }
        }
        Positions = tensor(positions, [batch, length], device: device).DetachFromDisposeScope();
        FullMask = tensor(full, [batch, 1, length, length], device: device).DetachFromDisposeScope();
        SlidingMask = sliding is null ? null : tensor(sliding, [batch, 1, length, length], device: device).DetachFromDisposeScope();
    }

    public void Clear()
    {
        Positions?.Dispose();
        FullMask?.Dispose();
        SlidingMask?.Dispose();
        Positions = FullMask = SlidingMask = null;
    }

    public void Dispose() => Clear();
}
