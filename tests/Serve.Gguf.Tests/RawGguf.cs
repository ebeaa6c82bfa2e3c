using System.Buffers.Binary;
using System.Text;

namespace Serve.Gguf.Tests;

/// <summary>
/// Assembles GGUF bytes field by field, independently of GgufWriter, so tests can state the expected layout
/// and build files the writer refuses to produce (duplicates, bad types, wrong versions).
/// </summary>
internal sealed class RawGguf
{
    private readonly MemoryStream _ms = new();

    public long Length => _ms.Length;

    public RawGguf Bytes(ReadOnlySpan<byte> b) { _ms.Write(b); return this; }
    public RawGguf U8(byte v) { _ms.WriteByte(v); return this; }
    public RawGguf U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return Bytes(b); }
    public RawGguf U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return Bytes(b); }
    public RawGguf F32(float v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, v); return Bytes(b); }
    public RawGguf Str(string s) { var b = Encoding.UTF8.GetBytes(s); U64((ulong)b.Length); return Bytes(b); }

    public RawGguf Header(ulong tensors, ulong kvs, uint version = 3) => Bytes("GGUF"u8).U32(version).U64(tensors).U64(kvs);

    public RawGguf KvU32(string key, uint v) => Str(key).U32((uint)GgufValueType.UInt32).U32(v);
    public RawGguf KvStr(string key, string v) => Str(key).U32((uint)GgufValueType.String).Str(v);

    public RawGguf TensorInfo(string name, GgmlType type, ulong offset, params ulong[] ne)
    {
        Str(name).U32((uint)ne.Length);
        foreach (var d in ne) U64(d);
        return U32((uint)type).U64(offset);
    }

    public RawGguf PadTo(int alignment)
    {
        while (_ms.Length % alignment != 0) _ms.WriteByte(0);
        return this;
    }

    public byte[] ToArray() => _ms.ToArray();

    public static GgufFile Parse(byte[] bytes) => GgufFile.Read(new MemoryStream(bytes));
}
