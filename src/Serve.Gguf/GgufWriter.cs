using System.Buffers.Binary;
using System.Text;

namespace Serve.Gguf;

/// <summary>
/// Builds a GGUF v3 file laid out exactly as gguf.cpp writes one: header, metadata in insertion order, tensor
/// infos, padding to the alignment, then each tensor's data padded to the alignment, offsets packed back to back.
/// </summary>
public sealed class GgufWriter
{
    private readonly OrderedDictionary<string, GgufValue> _kv = new(StringComparer.Ordinal);
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);
    private uint _alignment = GgufHeaderReader.DefaultAlignment;

    private sealed record PendingTensor(string Name, GgmlType Type, long[] Shape, ReadOnlyMemory<byte> Data);

    /// <summary>Data alignment; a power of two. Written as general.alignment only when it is not the default 32.</summary>
    public uint Alignment
    {
        get => _alignment;
        set
        {
            if (value == 0 || (value & (value - 1)) != 0)
                throw new ArgumentOutOfRangeException(nameof(value), value, "Alignment must be a non-zero power of two.");
            _alignment = value;
        }
    }

    public IReadOnlyCollection<string> Keys => _kv.Keys;

    public IReadOnlyList<string> TensorNames => _tensors.Select(t => t.Name).ToList();

    /// <summary>Adds or replaces a key; a replaced key keeps its original position.</summary>
    public GgufWriter Set(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key == GgufKeys.Alignment)
        {
            // Keep the property and the key in step: the key's value is always written from Alignment.
            if (value.Type != GgufValueType.UInt32)
                throw new ArgumentException($"'{GgufKeys.Alignment}' must be UInt32 (llama.cpp rejects other types).", nameof(value));
            Alignment = value.AsUInt32();
        }
        _kv[key] = value;
        return this;
    }

    public GgufWriter Set(string key, string v) => Set(key, GgufValue.From(v));
    public GgufWriter Set(string key, uint v) => Set(key, GgufValue.From(v));
    public GgufWriter Set(string key, int v) => Set(key, GgufValue.From(v));
    public GgufWriter Set(string key, float v) => Set(key, GgufValue.From(v));
    public GgufWriter Set(string key, bool v) => Set(key, GgufValue.From(v));
    public GgufWriter Set(string key, ulong v) => Set(key, GgufValue.From(v));
    public GgufWriter Set(string key, long v) => Set(key, GgufValue.From(v));
    public GgufWriter Set(string key, double v) => Set(key, GgufValue.From(v));

    public GgufWriter SetArray(string key, string[] v) => Set(key, GgufValue.FromArray(v));
    public GgufWriter SetArray(string key, float[] v) => Set(key, GgufValue.FromArray(v));
    public GgufWriter SetArray(string key, int[] v) => Set(key, GgufValue.FromArray(v));
    public GgufWriter SetArray(string key, uint[] v) => Set(key, GgufValue.FromArray(v));

    public bool Remove(string key) => _kv.Remove(key);

    /// <summary>Adds a tensor whose bytes are already in <paramref name="type"/>'s layout. Shape is ggml order (ne0 first).</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] shape, ReadOnlyMemory<byte> data)
    {
        ValidateTensor(name, type, shape);
        long expected = GgmlTypeInfo.TensorBytes(type, shape);
        if (data.Length != expected)
            throw new ArgumentException($"Tensor '{name}' ({type} [{string.Join(", ", shape)}]) needs {expected} bytes but {data.Length} were given.", nameof(data));
        _tensors.Add(new PendingTensor(name, type, (long[])shape.Clone(), data));
        _tensorNames.Add(name);
        return this;
    }

    /// <summary>Adds a tensor from float32 values, converted (F16/BF16) or quantised (Q8_0/Q4_0 the way ggml's reference code does; Q4_K/Q6_K with a plain encoder of the same layout).</summary>
    public GgufWriter AddTensor(string name, long[] shape, ReadOnlySpan<float> data, GgmlType storeAs = GgmlType.F32)
    {
        ValidateTensor(name, storeAs, shape);
        long count = GgmlTypeInfo.ElementCount(shape);
        if (data.Length != count)
            throw new ArgumentException($"Tensor '{name}' of shape [{string.Join(", ", shape)}] has {count} elements but {data.Length} values were given.", nameof(data));
        long size = GgmlTypeInfo.TensorBytes(storeAs, shape);
        if (size > Array.MaxLength)
            throw new ArgumentException($"Tensor '{name}' is too large ({size} bytes) to convert in memory.", nameof(data));
        var bytes = new byte[size];
        switch (storeAs)
        {
            case GgmlType.F32:
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), data[i]);
                break;
            case GgmlType.F16: Float16.WriteHalves(data, bytes); break;
            case GgmlType.BF16: Float16.WriteBFloat16s(data, bytes); break;
            case GgmlType.Q8_0: GgmlQuants.QuantizeQ8_0(data, bytes); break;
            case GgmlType.Q4_0: GgmlQuants.QuantizeQ4_0(data, bytes); break;
            case GgmlType.Q4_K: GgmlQuants.QuantizeQ4_K(data, bytes); break;
            case GgmlType.Q6_K: GgmlQuants.QuantizeQ6_K(data, bytes); break;
            default: throw new NotSupportedException($"Converting float32 to {storeAs} is not supported; use F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K.");
        }
        _tensors.Add(new PendingTensor(name, storeAs, (long[])shape.Clone(), bytes));
        _tensorNames.Add(name);
        return this;
    }

    private void ValidateTensor(string name, GgmlType type, long[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (Encoding.UTF8.GetByteCount(name) > GgufHeaderReader.MaxTensorNameBytes)
            throw new ArgumentException($"Tensor name '{name}' is longer than {GgufHeaderReader.MaxTensorNameBytes} bytes; llama.cpp cannot load it.", nameof(name));
        if (_tensorNames.Contains(name))
            throw new ArgumentException($"A tensor named '{name}' was already added.", nameof(name));
        if (shape.Length is 0 or > GgufHeaderReader.MaxDims)
            throw new ArgumentException($"Tensor '{name}' has {shape.Length} dimensions; 1 to {GgufHeaderReader.MaxDims} are allowed.", nameof(shape));
        if (!GgmlTypeInfo.IsSupported(type))
            throw new ArgumentException($"Unknown ggml type {(uint)type}.", nameof(type));
        foreach (var d in shape)
            if (d < 0) throw new ArgumentException($"Tensor '{name}' has a negative dimension.", nameof(shape));
        if (shape[0] % GgmlTypeInfo.BlockSize(type) != 0)
            throw new ArgumentException($"Tensor '{name}' row of {shape[0]} elements is not a multiple of the {type} block size {GgmlTypeInfo.BlockSize(type)}.", nameof(shape));
    }

    /// <summary>Writes to <paramref name="path"/> via <c>path.tmp</c> and a rename, so readers never see a half-written file.</summary>
    public void WriteTo(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string tmp = path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                WriteTo(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var kvs = _kv.ToList();
        if (_alignment != GgufHeaderReader.DefaultAlignment && !_kv.ContainsKey(GgufKeys.Alignment))
            kvs.Add(new(GgufKeys.Alignment, GgufValue.From(_alignment)));
        for (int i = 0; i < kvs.Count; i++)
            if (kvs[i].Key == GgufKeys.Alignment) kvs[i] = new(GgufKeys.Alignment, GgufValue.From(_alignment));

        var w = new CountingWriter(stream);
        w.Bytes("GGUF"u8);
        w.U32(3);
        w.U64((ulong)_tensors.Count);
        w.U64((ulong)kvs.Count);
        foreach (var (key, value) in kvs)
        {
            w.String(key);
            w.U32((uint)value.Type);
            WriteValueBody(w, value);
        }

        ulong offset = 0;
        foreach (var t in _tensors)
        {
            w.String(t.Name);
            w.U32((uint)t.Shape.Length);
            foreach (var d in t.Shape) w.U64((ulong)d);
            w.U32((uint)t.Type);
            w.U64(offset);
            offset += (ulong)GgufHeaderReader.AlignUp(t.Data.Length, _alignment);
        }
        w.Pad(_alignment);
        foreach (var t in _tensors)
        {
            w.Bytes(t.Data.Span);
            w.Pad(_alignment);
        }
        w.Flush();
    }

    private static void WriteValueBody(CountingWriter w, GgufValue v)
    {
        switch (v.Type)
        {
            case GgufValueType.Array:
                WriteArrayBody(w, v);
                break;
            case GgufValueType.String: w.String(v.AsString()); break;
            default: WriteScalar(w, v.RawValue); break;
        }
    }

    // An array is its element type, its length, then the elements; a nested array element repeats that shape.
    private static void WriteArrayBody(CountingWriter w, GgufValue v)
    {
        w.U32((uint)v.ElementType!.Value);
        var arr = v.RawArray;
        w.U64((ulong)arr.Length);
        switch (arr)
        {
            case string[] s: foreach (var x in s) w.String(x); break;
            case GgufValue[] nested: foreach (var x in nested) WriteArrayBody(w, x); break;
            default: foreach (var x in arr) WriteScalar(w, x!); break;
        }
    }

    private static void WriteScalar(CountingWriter w, object v)
    {
        Span<byte> b = stackalloc byte[8];
        switch (v)
        {
            case byte x: b[0] = x; w.Bytes(b[..1]); break;
            case sbyte x: b[0] = (byte)x; w.Bytes(b[..1]); break;
            case bool x: b[0] = x ? (byte)1 : (byte)0; w.Bytes(b[..1]); break;
            case ushort x: BinaryPrimitives.WriteUInt16LittleEndian(b, x); w.Bytes(b[..2]); break;
            case short x: BinaryPrimitives.WriteInt16LittleEndian(b, x); w.Bytes(b[..2]); break;
            case uint x: w.U32(x); break;
            case int x: BinaryPrimitives.WriteInt32LittleEndian(b, x); w.Bytes(b[..4]); break;
            case float x: BinaryPrimitives.WriteSingleLittleEndian(b, x); w.Bytes(b[..4]); break;
            case ulong x: w.U64(x); break;
            case long x: BinaryPrimitives.WriteInt64LittleEndian(b, x); w.Bytes(b[..8]); break;
            case double x: BinaryPrimitives.WriteDoubleLittleEndian(b, x); w.Bytes(b[..8]); break;
            default: throw new InvalidOperationException($"Cannot write a {v.GetType().Name} as a GGUF scalar.");
        }
    }

    /// <summary>Copies every key and tensor of <paramref name="file"/> (tensor bytes are read into memory).</summary>
    public static GgufWriter From(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var w = new GgufWriter { Alignment = file.Alignment };
        foreach (var (key, value) in file.Metadata) w.Set(key, value);
        // A 0-dim tensor (legal to read) is written as [1], which is how gguf.cpp writes scalars.
        foreach (var t in file.Tensors)
            w.AddTensor(t.Name, t.Type, t.Shape.Length == 0 ? [1] : t.Shape, file.ReadTensorBytes(t));
        return w;
    }

    /// <summary>Tracks bytes written so padding is relative to the start of the GGUF, not of the stream.</summary>
    private sealed class CountingWriter(Stream stream)
    {
        private readonly BufferedStream _out = new(stream, 1 << 16);
        private long _written;

        public void Bytes(ReadOnlySpan<byte> b)
        {
            _out.Write(b);
            _written += b.Length;
        }

        public void U32(uint v)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            Bytes(b);
        }

        public void U64(ulong v)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(b, v);
            Bytes(b);
        }

        public void String(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            U64((ulong)bytes.Length);
            Bytes(bytes);
        }

        public void Pad(uint alignment)
        {
            long pad = GgufHeaderReader.AlignUp(_written, alignment) - _written;
            Span<byte> zeros = stackalloc byte[256];
            zeros.Clear();
            while (pad > 0)
            {
                int n = (int)Math.Min(pad, zeros.Length);
                Bytes(zeros[..n]);
                pad -= n;
            }
        }

        public void Flush() => _out.Flush();
    }
}
