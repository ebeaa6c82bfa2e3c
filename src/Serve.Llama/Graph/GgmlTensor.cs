using System.Text;
using Serve.Llama.Native;

namespace Serve.Llama.Graph;

/// <summary>
/// A node of the ggml graph llama.cpp is computing, seen from an <see cref="ILlamaGraphObserver"/>. Valid only during
/// the callback that passed it: the graph's tensors are freed or reused afterwards. Weight tensors (the model's)
/// keep their <see cref="Address"/> for the model's lifetime, which is what makes the address a usable key.
/// </summary>
public readonly unsafe struct GgmlTensor
{
    private readonly GgmlTensorNative* _tensor;

    internal GgmlTensor(GgmlTensorNative* tensor) => _tensor = tensor;

    public bool IsNull => _tensor == null;

    /// <summary>The native ggml_tensor pointer.</summary>
    public nint Address => (nint)_tensor;

    public GgmlType Type => Native.Type;

    /// <summary>True for GGML_OP_MUL_MAT: Source(0) is the weight, Source(1) the input, the result one column per token.</summary>
    public bool IsMatMul => Native.Op == GgmlOps.MulMat;

    /// <summary>The operation's ggml name (ggml_op_name): MUL_MAT, MUL_MAT_ID, CUSTOM, NONE for a leaf.</summary>
    public string OpName => NativeApi.PtrToString(NativeApi.ggml_op_name(Native.Op)) ?? "";

    /// <summary>Elements along a dimension (0 = the contiguous one).</summary>
    public long Elements(int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)dimension, (uint)GgmlTensorNative.MaxDims, nameof(dimension));
        return Native.Ne[dimension];
    }

    /// <summary>Stride in bytes along a dimension.</summary>
    public long Stride(int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)dimension, (uint)GgmlTensorNative.MaxDims, nameof(dimension));
        return (long)Native.Nb[dimension];
    }

    public long ElementCount => NativeApi.ggml_nelements(_tensor);

    public long ByteSize => (long)NativeApi.ggml_nbytes(_tensor);

    public bool IsContiguous => NativeApi.ggml_is_contiguous(_tensor);

    /// <summary>A source of the operation (null tensor when absent).</summary>
    public GgmlTensor Source(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)GgmlTensorNative.MaxSources, nameof(index));
        return new GgmlTensor((GgmlTensorNative*)Native.Src[index]);
    }

    /// <summary>The tensor's name as UTF-8 bytes (model weights are named as in the GGUF file, e.g. blk.0.attn_q.weight).</summary>
    public ReadOnlySpan<byte> NameUtf8
    {
        get
        {
            if (_tensor == null) throw new InvalidOperationException("The tensor is null.");
            var name = new ReadOnlySpan<byte>(_tensor->Name, GgmlTensorNative.MaxName);
            var end = name.IndexOf((byte)0);
            return end < 0 ? name : name[..end];
        }
    }

    public string Name => Encoding.UTF8.GetString(NameUtf8);

    /// <summary>True when the data lives in host memory (the CPU backend), so <see cref="HostData"/> may be used.</summary>
    public bool IsHostMemory => Native.Buffer != 0 && NativeApi.ggml_backend_buffer_is_host(Native.Buffer);

    /// <summary>The data pointer of a host tensor.</summary>
    public void* HostData => IsHostMemory ? Native.Data : throw new InvalidOperationException($"Tensor {Name} is not in host memory.");

    /// <summary>Copies bytes of the tensor out, from any backend (ggml_backend_tensor_get).</summary>
    public void CopyTo(Span<byte> destination, long offset = 0)
    {
        CheckRange(offset, destination.Length);
        fixed (byte* d = destination) NativeApi.ggml_backend_tensor_get(_tensor, d, (nuint)offset, (nuint)destination.Length);
    }

    /// <summary>Overwrites bytes of the tensor, on any backend (ggml_backend_tensor_set).</summary>
    public void CopyFrom(ReadOnlySpan<byte> source, long offset = 0)
    {
        CheckRange(offset, source.Length);
        fixed (byte* s = source) NativeApi.ggml_backend_tensor_set(_tensor, s, (nuint)offset, (nuint)source.Length);
    }

    private void CheckRange(long offset, int length)
    {
        if (offset < 0 || offset + length > ByteSize)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside tensor {Name} ({ByteSize} bytes).");
    }

    private ref GgmlTensorNative Native
    {
        get
        {
            if (_tensor == null) throw new InvalidOperationException("The tensor is null.");
            return ref *_tensor;
        }
    }

    public override string ToString() => IsNull ? "(null)" : $"{Name} {Type} [{Native.Ne[0]}, {Native.Ne[1]}, {Native.Ne[2]}, {Native.Ne[3]}]";
}

/// <summary>ggml_op values this binding needs, looked up by name in the loaded library (ggml_op_name) once.</summary>
internal static unsafe class GgmlOps
{
    public static readonly int MulMat = Find("MUL_MAT");

    private static int Find(string name)
    {
        LlamaBackend.Initialize();
        // Every ggml release lists MUL_MAT well before GGML_OP_COUNT, so the scan stops inside the table.
        for (var op = 1; op < 256; op++)
        {
            if (NativeApi.PtrToString(NativeApi.ggml_op_name(op)) == name) return op;
        }
        throw new LlamaException($"This ggml has no operation named {name}.");
    }
}
