using static TorchSharp.torch;

namespace Serve.Training.Quantization;

/// <summary>A frozen base matrix [out, in] (PyTorch order: rows are outputs), held dense or quantised.</summary>
public abstract class FrozenWeight : IDisposable
{
    public abstract long OutFeatures { get; }
    public abstract long InFeatures { get; }

    /// <summary>Bytes the stored form takes.</summary>
    public abstract long StorageBytes { get; }

    /// <summary>
    /// The weight as float32 [out, in] on <see cref="Device"/>. For a dense weight this is the stored tensor itself
    /// (do not dispose it); for a quantised one a fresh tensor owned by the caller's dispose scope.
    /// </summary>
    public abstract Tensor Dense();

    /// <summary>
    /// The weight as float32 [out, in] for one matmul: a handle the caller disposes right after use. A quantised
    /// weight may dequantise into a buffer it shares with the other matrices of its model, so the result is only
    /// valid until the next such call on any of them.
    /// </summary>
    internal abstract Tensor DenseForMatmul();

    /// <summary>Rows <paramref name="indices"/> (int64) as float32 [count, in]: an embedding lookup.</summary>
    public abstract Tensor Rows(Tensor indices);

    public abstract Device Device { get; }

    /// <summary>Whether <see cref="Dense"/> builds a temporary that autograd must not keep (recomputed in backward).</summary>
    public abstract bool IsQuantized { get; }

    /// <summary>x @ Wᵀ; a quantised weight is dequantised again in backward instead of being saved.</summary>
    public Tensor Project(Tensor x)
    {
        if (!IsQuantized) return x.matmul(Dense().t());
        return FrozenMatmulFunction.apply(x, this);
    }

    public abstract void Dispose();
}
