namespace Serve.Gguf;

/// <summary>
/// One tensor's header entry. <paramref name="Shape"/> is in ggml order: Shape[0] is ne0, the contiguous
/// dimension (a PyTorch [out, in] weight is Shape = [in, out]). <paramref name="Offset"/> is relative to
/// the start of the data section.
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Shape, ulong Offset)
{
    public long ElementCount => GgmlTypeInfo.ElementCount(Shape);

    public long ByteSize => GgmlTypeInfo.TensorBytes(Type, Shape);

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Shape)}] @{Offset}";
}
