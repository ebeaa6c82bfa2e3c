using static TorchSharp.torch;

namespace Serve.Training.Quantization;

/// <summary>
/// One float32 buffer that the quantised matrices of a model dequantise into, one matrix at a time, for the
/// duration of a matmul (forward, or backward's input gradient). Reusing it means a training step allocates no
/// weight-sized temporaries: with a fresh tensor per matmul the allocator churned through two weight-sized blocks
/// per matrix per step, and glibc's heap kept growing. It grows to the largest matrix rented and stays that size.
/// Not thread-safe: one forward/backward at a time per model, which is how a model is used.
/// </summary>
public sealed class DequantizationBuffer(Device device) : IDisposable
{
    private Tensor? _storage;

    public Device Device { get; } = device;

    /// <summary>Elements the buffer holds now.</summary>
    public long Capacity => _storage?.NumberOfElements ?? 0;

    /// <summary>
    /// A [rows, cols] float32 view of the buffer, valid until the next call; its contents are whatever was there.
    /// The caller disposes the view (the storage stays).
    /// </summary>
    public Tensor Rent(long rows, long cols)
    {
        var count = rows * cols;
        if (_storage is null || _storage.NumberOfElements < count)
        {
            _storage?.Dispose();
            _storage = empty([count], ScalarType.Float32, device: Device).DetachFromDisposeScope();
        }
        using var flat = _storage.narrow(0, 0, count);
        return flat.view(rows, cols);
    }

    public void Dispose()
    {
        _storage?.Dispose();
        _storage = null;
    }
}
