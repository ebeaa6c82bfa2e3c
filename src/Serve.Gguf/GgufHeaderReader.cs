using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Serve.Gguf;

/// <summary>
/// Parses the GGUF header (everything before the data section) from a <see cref="GgufSource"/>.
/// Every count and length is checked against the bytes that remain before anything is allocated, so a
/// corrupt or hostile file fails with a <see cref="GgufFormatException"/> instead of a huge allocation.
/// </summary>
internal sealed class GgufHeaderReader
{
    public const uint DefaultAlignment = 32;
    public const int MaxDims = 4;          // GGML_MAX_DIMS
    public const int MaxTensorNameBytes = 63; // GGML_MAX_NAME (64) includes the terminating NUL
    private const int MaxNesting = 16;     // arrays of arrays: bounded so a crafted file cannot exhaust the stack

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly GgufSource _src;
    private readonly long _length;
    private readonly byte[] _buf = new byte[64 * 1024];
    private long _bufStart;
    private int _bufLen;
    private long _pos;

    public GgufHeaderReader(GgufSource src)
    {
        _src = src;
        _length = src.Length;
    }

    public uint Version { get; private set; }
    public OrderedDictionary<string, GgufValue> Metadata { get; } = new(StringComparer.Ordinal);
    public List<GgufTensorInfo> Tensors { get; } = [];
    public uint Alignment { get; private set; } = DefaultAlignment;
    public long DataOffset { get; private set; }

    private long Remaining => _length - _pos;

    public void Parse()
    {
        if (_length < 4)
            throw new GgufFormatException($"Not a GGUF file: only {_length} bytes", 0);
        var magic = Take(4, "magic");
        if (!magic.SequenceEqual("GGUF"u8))
            throw new GgufFormatException("Not a GGUF file: it does not start with the magic \"GGUF\"", 0); // never echo the bytes: they may be any file's

        long at = _pos;
        uint version = U32("version");
        if (version == 0)
            throw new GgufFormatException("Bad GGUF version 0", at);
        if ((version & 0xFFFF) == 0)
            throw new GgufFormatException($"GGUF version 0x{version:X8} looks byte-swapped: big-endian GGUF files are not supported", at);
        if (version == 1)
            throw new GgufFormatException("GGUF version 1 is not supported (its counts are 32-bit); convert the file to version 3", at);
        if (version > 3)
            throw new GgufFormatException($"GGUF version {version} is newer than the supported version 3", at);
        Version = version;

        at = _pos;
        ulong tensorCount = U64("tensor count");
        // Smallest tensor info: name length (8) + n_dims (4) + type (4) + offset (8).
        if (tensorCount > (ulong)Remaining / 24)
            throw new GgufFormatException($"Tensor count {tensorCount} cannot fit in the {Remaining} bytes that remain", at);
        at = _pos;
        ulong kvCount = U64("metadata count");
        // Smallest key/value: key length (8) + one key byte + type (4) + a one-byte value.
        if (kvCount > (ulong)Remaining / 14)
            throw new GgufFormatException($"Metadata count {kvCount} cannot fit in the {Remaining} bytes that remain", at);

        for (ulong i = 0; i < kvCount; i++)
            ReadKeyValue(i);

        if (Metadata.TryGetValue(GgufKeys.Alignment, out var align))
        {
            if (align.Type != GgufValueType.UInt32)
                throw new GgufFormatException($"Key '{GgufKeys.Alignment}' must be UInt32 but is {align.Type}", -1);
            uint a = align.AsUInt32();
            if (a == 0 || (a & (a - 1)) != 0)
                throw new GgufFormatException($"Alignment {a} is not a power of two", -1);
            Alignment = a;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
            ReadTensorInfo(i, names);

        long aligned = AlignUp(_pos, Alignment);
        if (tensorCount > 0 && aligned > _length)
            throw new GgufFormatException($"Data section would start at {aligned}, past the end of the {_length}-byte file", _pos);
        DataOffset = Math.Min(aligned, _length);

        CheckTensorPlacement();
    }

    private void ReadKeyValue(ulong index)
    {
        long at = _pos;
        string key = ReadString($"key of metadata entry {index}");
        if (key.Length == 0)
            throw new GgufFormatException($"Metadata entry {index} has an empty key", at);
        if (Metadata.ContainsKey(key))
            throw new GgufFormatException($"Duplicate metadata key '{key}'", at);
        long typeAt = _pos;
        var type = ReadValueType($"type of '{key}'", typeAt);
        Metadata.Add(key, ReadValue(type, key, 0));
    }

    private void ReadTensorInfo(ulong index, HashSet<string> names)
    {
        long at = _pos;
        string name = ReadString($"name of tensor {index}");
        if (Encoding.UTF8.GetByteCount(name) > MaxTensorNameBytes)
            throw new GgufFormatException($"Tensor name '{Shorten(name)}' is longer than {MaxTensorNameBytes} bytes, which ggml cannot hold", at);
        if (!names.Add(name))
            throw new GgufFormatException($"Duplicate tensor name '{name}'", at);

        long dimsAt = _pos;
        uint nDims = U32($"dimension count of '{name}'");
        if (nDims > MaxDims)
            throw new GgufFormatException($"Tensor '{name}' has {nDims} dimensions; at most {MaxDims} are allowed", dimsAt);
        var shape = new long[nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++)
        {
            long neAt = _pos;
            ulong ne = U64($"dimension {d} of '{name}'");
            if (ne > long.MaxValue)
                throw new GgufFormatException($"Tensor '{name}' dimension {d} is negative or too large ({ne})", neAt);
            shape[d] = (long)ne;
            if (!TryMultiply(elements, shape[d], out elements))
                throw new GgufFormatException($"Tensor '{name}' of shape [{string.Join(", ", shape.Take(d + 1))}] has too many elements", neAt);
        }

        long typeAt = _pos;
        uint rawType = U32($"type of '{name}'");
        var type = (GgmlType)rawType;
        if (!GgmlTypeInfo.IsSupported(type))
            throw new GgufFormatException($"Tensor '{name}' has unknown ggml type {rawType}", typeAt);
        long ne0 = nDims == 0 ? 1 : shape[0];
        int block = GgmlTypeInfo.BlockSize(type);
        if (ne0 % block != 0)
            throw new GgufFormatException($"Tensor '{name}' of type {type} has {ne0} elements per row, not a multiple of the block size {block}", typeAt);
        if (!TryMultiply(elements / block, GgmlTypeInfo.TypeSize(type), out _))
            throw new GgufFormatException($"Tensor '{name}' is too large in bytes", typeAt);

        long offsetAt = _pos;
        ulong offset = U64($"data offset of '{name}'");
        if (offset % Alignment != 0)
            throw new GgufFormatException($"Tensor '{name}' data offset {offset} is not a multiple of the alignment {Alignment}", offsetAt);

        Tensors.Add(new GgufTensorInfo(name, type, shape, offset));
    }

    /// <summary>Every tensor must lie inside the file and no two may overlap (llama.cpp packs them back to back).</summary>
    private void CheckTensorPlacement()
    {
        long dataBytes = _length - DataOffset;
        var byOffset = Tensors.OrderBy(t => t.Offset).ToList();
        ulong prevEnd = 0;
        string? prevName = null;
        foreach (var t in byOffset)
        {
            ulong size = (ulong)t.ByteSize;
            if (t.Offset > (ulong)dataBytes || size > (ulong)dataBytes - t.Offset)
                throw new GgufFormatException(
                    $"Tensor '{t.Name}' data ({size} bytes at data offset {t.Offset}) runs past the end of the file ({dataBytes} data bytes)",
                    DataOffset);
            if (t.Offset < prevEnd)
                throw new GgufFormatException($"Tensor '{t.Name}' data overlaps tensor '{prevName}'", DataOffset);
            prevEnd = t.Offset + size;
            prevName = t.Name;
        }
    }

    private GgufValueType ReadValueType(string what, long at)
    {
        uint raw = U32(what);
        if (raw > (uint)GgufValueType.Float64)
            throw new GgufFormatException($"Unknown value type {raw} for {what}", at);
        return (GgufValueType)raw;
    }

    private GgufValue ReadValue(GgufValueType type, string key, int depth)
    {
        long at = _pos;
        switch (type)
        {
            case GgufValueType.UInt8: return GgufValue.From(Take(1, key)[0]);
            case GgufValueType.Int8: return GgufValue.From((sbyte)Take(1, key)[0]);
            case GgufValueType.UInt16: return GgufValue.From(BinaryPrimitives.ReadUInt16LittleEndian(Take(2, key)));
            case GgufValueType.Int16: return GgufValue.From(BinaryPrimitives.ReadInt16LittleEndian(Take(2, key)));
            case GgufValueType.UInt32: return GgufValue.From(U32(key));
            case GgufValueType.Int32: return GgufValue.From(BinaryPrimitives.ReadInt32LittleEndian(Take(4, key)));
            case GgufValueType.Float32: return GgufValue.From(BinaryPrimitives.ReadSingleLittleEndian(Take(4, key)));
            case GgufValueType.Bool: return GgufValue.From(Take(1, key)[0] != 0);
            case GgufValueType.String: return GgufValue.From(ReadString(key));
            case GgufValueType.UInt64: return GgufValue.From(U64(key));
            case GgufValueType.Int64: return GgufValue.From(BinaryPrimitives.ReadInt64LittleEndian(Take(8, key)));
            case GgufValueType.Float64: return GgufValue.From(BinaryPrimitives.ReadDoubleLittleEndian(Take(8, key)));
            case GgufValueType.Array: return ReadArray(key, depth);
            default: throw new GgufFormatException($"Unknown value type {(uint)type} for '{key}'", at);
        }
    }

    private GgufValue ReadArray(string key, int depth)
    {
        if (depth >= MaxNesting)
            throw new GgufFormatException($"Arrays in '{key}' are nested more than {MaxNesting} deep", _pos);
        long at = _pos;
        var elementType = ReadValueType($"element type of '{key}'", at);
        long countAt = _pos;
        ulong count = U64($"length of '{key}'");
        int minSize = elementType switch
        {
            GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => ScalarSize(elementType),
        };
        if (count > (ulong)(Remaining / minSize) || count > (ulong)Array.MaxLength)
            throw new GgufFormatException($"Array '{key}' claims {count} {elementType} elements, more than the {Remaining} bytes left can hold", countAt);
        int n = (int)count;

        switch (elementType)
        {
            case GgufValueType.String:
            {
                var a = new string[n];
                for (int i = 0; i < n; i++) a[i] = ReadString(key);
                return GgufValue.WrapArray(elementType, a);
            }
            case GgufValueType.Array:
            {
                var a = new GgufValue[n];
                for (int i = 0; i < n; i++) a[i] = ReadArray(key, depth + 1);
                return GgufValue.WrapArray(elementType, a);
            }
            case GgufValueType.Bool:
            {
                var bytes = TakeLarge(n, key);
                var a = new bool[n];
                for (int i = 0; i < n; i++) a[i] = bytes[i] != 0;
                return GgufValue.WrapArray(elementType, a);
            }
            case GgufValueType.UInt8: return GgufValue.WrapArray(elementType, TakeLarge(n, key).ToArray());
            case GgufValueType.Int8: return GgufValue.WrapArray(elementType, Cast<sbyte>(n, key));
            case GgufValueType.UInt16: return GgufValue.WrapArray(elementType, Cast<ushort>(n, key));
            case GgufValueType.Int16: return GgufValue.WrapArray(elementType, Cast<short>(n, key));
            case GgufValueType.UInt32: return GgufValue.WrapArray(elementType, Cast<uint>(n, key));
            case GgufValueType.Int32: return GgufValue.WrapArray(elementType, Cast<int>(n, key));
            case GgufValueType.Float32: return GgufValue.WrapArray(elementType, Cast<float>(n, key));
            case GgufValueType.UInt64: return GgufValue.WrapArray(elementType, Cast<ulong>(n, key));
            case GgufValueType.Int64: return GgufValue.WrapArray(elementType, Cast<long>(n, key));
            case GgufValueType.Float64: return GgufValue.WrapArray(elementType, Cast<double>(n, key));
            default: throw new GgufFormatException($"Unknown element type {(uint)elementType} in '{key}'", at);
        }
    }

    private T[] Cast<T>(int n, string key) where T : unmanaged
    {
        // GGUF is little-endian; so is every platform .NET 10 ships for, so the bytes are the values.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("GGUF reading needs a little-endian host.");
        long size = (long)n * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (size > Array.MaxLength)
            throw new GgufFormatException($"Array '{key}' of {n} elements is too large to hold in memory", _pos);
        var bytes = TakeLarge((int)size, key);
        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }

    internal static int ScalarSize(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "not a fixed-size scalar type"),
    };

    private string ReadString(string what)
    {
        long at = _pos;
        ulong len = U64($"length of {what}");
        if (len > (ulong)Remaining)
            throw new GgufFormatException($"String length {len} of {what} exceeds the {Remaining} bytes that remain", at);
        if (len > (ulong)Array.MaxLength)
            throw new GgufFormatException($"String length {len} of {what} is too large", at);
        var bytes = TakeLarge((int)len, what);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new GgufFormatException($"Invalid UTF-8 in {what}", at + 8, e);
        }
    }

    private uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

    private ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    /// <summary>Small reads come from a 64 KiB window over the source.</summary>
    private ReadOnlySpan<byte> Take(int n, string what)
    {
        if (n > Remaining)
            throw new GgufFormatException($"Unexpected end of file reading {what}: needs {n} bytes, {Remaining} remain", _pos);
        if (_pos < _bufStart || _pos + n > _bufStart + _bufLen)
        {
            _bufStart = _pos;
            _bufLen = (int)Math.Min(_buf.Length, _length - _pos);
            _src.ReadExactly(_pos, _buf.AsSpan(0, _bufLen));
        }
        var span = _buf.AsSpan((int)(_pos - _bufStart), n);
        _pos += n;
        return span;
    }

    /// <summary>Reads of any size; callers have already checked <paramref name="n"/> against the remaining bytes.</summary>
    private ReadOnlySpan<byte> TakeLarge(int n, string what)
    {
        if (n <= _buf.Length) return Take(n, what);
        if (n > Remaining)
            throw new GgufFormatException($"Unexpected end of file reading {what}: needs {n} bytes, {Remaining} remain", _pos);
        var big = new byte[n];
        _src.ReadExactly(_pos, big);
        _pos += n;
        return big;
    }

    internal static long AlignUp(long v, uint alignment) => (v + alignment - 1) / alignment * alignment;

    private static bool TryMultiply(long a, long b, out long result)
    {
        try
        {
            result = checked(a * b);
            return true;
        }
        catch (OverflowException)
        {
            result = 0;
            return false;
        }
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "...";
}
