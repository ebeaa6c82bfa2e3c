using System.Collections.ObjectModel;

namespace Serve.Gguf;

/// <summary>
/// A parsed GGUF file: its metadata and tensor directory, with the tensor data read on demand from the
/// still-open file. Reads are positional, so several threads may read tensors at once.
/// </summary>
public sealed class GgufFile : IDisposable
{
    private readonly GgufSource _source;
    private readonly Dictionary<string, GgufTensorInfo> _byName;
    private bool _disposed;

    private GgufFile(GgufSource source, GgufHeaderReader header)
    {
        _source = source;
        Version = header.Version;
        Metadata = new ReadOnlyDictionary<string, GgufValue>(header.Metadata);
        Tensors = header.Tensors.AsReadOnly();
        Alignment = header.Alignment;
        DataOffset = header.DataOffset;
        _byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>
    /// The lower-case hex SHA-256 of a whole file: the identity of a model or adapter across the project (an
    /// adapter's version, the base hash an adapter records, the registry's key).
    /// </summary>
    public static string Sha256(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    public static GgufFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        return Open(new FileSource(handle));
    }

    /// <summary>
    /// Parses a GGUF that starts at the stream's current position. A non-seekable stream is copied to memory
    /// first, since tensor reads need random access.
    /// </summary>
    public static GgufFile Read(Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            if (!leaveOpen) stream.Dispose();
            copy.Position = 0;
            return Open(new StreamSource(copy, leaveOpen: false));
        }
        return Open(new StreamSource(stream, leaveOpen));
    }

    private static GgufFile Open(GgufSource source)
    {
        try
        {
            var header = new GgufHeaderReader(source);
            header.Parse();
            return new GgufFile(source, header);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    public uint Version { get; }

    /// <summary>Key/value metadata; enumerates in file order.</summary>
    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }

    /// <summary>Tensor directory in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    public uint Alignment { get; }

    /// <summary>Absolute byte position of the data section; tensor offsets are relative to it.</summary>
    public long DataOffset { get; }

    /// <summary>Total size of the file in bytes.</summary>
    public long Length => _source.Length;

    public string? Architecture => GetString(GgufKeys.Architecture);

    public GgufTensorInfo GetTensor(string name) =>
        _byName.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"No tensor named '{name}' in the GGUF file.");

    public bool TryGetTensor(string name, out GgufTensorInfo info)
    {
        if (_byName.TryGetValue(name, out var t))
        {
            info = t;
            return true;
        }
        info = null!;
        return false;
    }

    public byte[] ReadTensorBytes(GgufTensorInfo t)
    {
        long size = CheckedRange(t);
        if (size > Array.MaxLength)
            throw new NotSupportedException($"Tensor '{t.Name}' is {size} bytes, more than one array can hold; use ReadTensorBytes(t, offset, destination).");
        var bytes = new byte[size];
        _source.ReadExactly(DataOffset + (long)t.Offset, bytes);
        return bytes;
    }

    /// <summary>Reads part of a tensor's bytes, starting <paramref name="offsetInTensor"/> bytes into it (for tensors over 2 GB).</summary>
    public void ReadTensorBytes(GgufTensorInfo t, long offsetInTensor, Span<byte> destination)
    {
        long size = CheckedRange(t);
        if (offsetInTensor < 0 || offsetInTensor > size || destination.Length > size - offsetInTensor)
            throw new ArgumentOutOfRangeException(nameof(offsetInTensor), $"Range is outside tensor '{t.Name}' ({size} bytes).");
        _source.ReadExactly(DataOffset + (long)t.Offset + offsetInTensor, destination);
    }

    /// <summary>
    /// The tensor's values as float32, dequantised the way ggml does. Supports F32, F16, BF16, F64, I8, I16, I32,
    /// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K.
    /// </summary>
    public float[] ReadTensorAsFloat32(GgufTensorInfo t)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (!GgmlQuants.CanDequantize(t.Type))
            throw new NotSupportedException($"Reading {t.Type} tensors as float32 is not supported (tensor '{t.Name}').");
        long size = CheckedRange(t);
        long count = t.ElementCount;
        if (count > Array.MaxLength)
            throw new NotSupportedException($"Tensor '{t.Name}' has {count} elements, more than one array can hold.");
        var result = new float[count];

        // Decode in chunks of whole blocks so a large tensor never needs its raw bytes and floats in memory at once.
        int bs = GgmlTypeInfo.BlockSize(t.Type), ts = GgmlTypeInfo.TypeSize(t.Type);
        long blocks = size / ts;
        int blocksPerChunk = Math.Max(1, (1 << 20) / ts);
        var buf = new byte[(int)Math.Min(blocks, blocksPerChunk) * ts];
        long basePos = DataOffset + (long)t.Offset;
        for (long b = 0; b < blocks; b += blocksPerChunk)
        {
            int n = (int)Math.Min(blocksPerChunk, blocks - b);
            var chunk = buf.AsSpan(0, n * ts);
            _source.ReadExactly(basePos + b * ts, chunk);
            GgmlQuants.Dequantize(t.Type, chunk, result.AsSpan((int)(b * bs), n * bs));
        }
        return result;
    }

    /// <summary>Validates that <paramref name="t"/> lies inside this file and returns its byte size.</summary>
    private long CheckedRange(GgufTensorInfo t)
    {
        ArgumentNullException.ThrowIfNull(t);
        ObjectDisposedException.ThrowIf(_disposed, this);
        long size;
        try
        {
            size = t.ByteSize;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new GgufFormatException($"Tensor '{t.Name}' has an invalid shape or type: {e.Message}", -1, e);
        }
        long dataBytes = _source.Length - DataOffset;
        if (t.Offset > (ulong)dataBytes || (ulong)size > (ulong)dataBytes - t.Offset)
            throw new GgufFormatException($"Tensor '{t.Name}' data runs past the end of the file", DataOffset + (long)Math.Min(t.Offset, (ulong)dataBytes));
        return size;
    }

    // --- typed metadata lookups: null when absent, GgufFormatException when present with the wrong type ------

    public GgufValue? GetValue(string key) => Metadata.TryGetValue(key, out var v) ? v : null;

    public string? GetString(string key) => Get(key, GgufValueType.String, v => v.AsString());
    public uint? GetUInt32(string key) => Get(key, GgufValueType.UInt32, v => (uint?)v.AsUInt32());
    public int? GetInt32(string key) => Get(key, GgufValueType.Int32, v => (int?)v.AsInt32());
    public ulong? GetUInt64(string key) => Get(key, GgufValueType.UInt64, v => (ulong?)v.AsUInt64());
    public long? GetInt64(string key) => Get(key, GgufValueType.Int64, v => (long?)v.AsInt64());
    public float? GetFloat32(string key) => Get(key, GgufValueType.Float32, v => (float?)v.AsFloat32());
    public double? GetFloat64(string key) => Get(key, GgufValueType.Float64, v => (double?)v.AsFloat64());
    public bool? GetBool(string key) => Get(key, GgufValueType.Bool, v => (bool?)v.AsBool());

    /// <summary>Any integer type, widened: writers disagree on u32 vs i32 for counts and token ids.</summary>
    public long? GetInteger(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        try
        {
            return v.AsInteger();
        }
        catch (InvalidCastException e)
        {
            throw new GgufFormatException($"Key '{key}' should be an integer: {e.Message}", -1, e);
        }
    }

    public string[]? GetStringArray(string key) => GetArray<string>(key);

    public T[]? GetArray<T>(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        try
        {
            return v.AsArray<T>();
        }
        catch (InvalidCastException e)
        {
            throw new GgufFormatException($"Key '{key}' has the wrong type: {e.Message}", -1, e);
        }
    }

    private T? Get<T>(string key, GgufValueType type, Func<GgufValue, T> read)
    {
        if (!Metadata.TryGetValue(key, out var v)) return default;
        if (v.Type != type)
            throw new GgufFormatException($"Key '{key}' should be {type} but is {(v.IsArray ? $"Array of {v.ElementType}" : v.Type.ToString())}", -1);
        return read(v);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _source.Dispose();
    }
}
