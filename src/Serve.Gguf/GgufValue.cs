using System.Globalization;
using System.Text;

namespace Serve.Gguf;

/// <summary>
/// One immutable metadata value: a scalar, a string, or an array (of scalars, strings, or further arrays,
/// which the GGUF spec allows although llama.cpp's reader rejects them). Arrays are copied in and out so no
/// caller can change a value another holds.
/// </summary>
public sealed class GgufValue : IEquatable<GgufValue>
{
    private readonly object _value;

    private GgufValue(GgufValueType type, GgufValueType? elementType, object value)
    {
        Type = type;
        ElementType = elementType;
        _value = value;
    }

    public GgufValueType Type { get; }

    /// <summary>The type of every element when <see cref="Type"/> is <see cref="GgufValueType.Array"/>; null otherwise.</summary>
    public GgufValueType? ElementType { get; }

    /// <summary>
    /// The boxed scalar, the string, or a copy of the array (T[] for scalar elements, string[] for strings,
    /// GgufValue[] for nested arrays).
    /// </summary>
    public object Value => _value is Array a ? a.Clone() : _value;

    public bool IsArray => Type == GgufValueType.Array;

    /// <summary>Number of elements of an array value.</summary>
    public int ArrayLength => _value is Array a ? a.Length : throw Mismatch("an array");

    // --- scalars -------------------------------------------------------------------------------
    public static GgufValue From(string v) => new(GgufValueType.String, null, v ?? throw new ArgumentNullException(nameof(v)));
    public static GgufValue From(byte v) => new(GgufValueType.UInt8, null, v);
    public static GgufValue From(sbyte v) => new(GgufValueType.Int8, null, v);
    public static GgufValue From(ushort v) => new(GgufValueType.UInt16, null, v);
    public static GgufValue From(short v) => new(GgufValueType.Int16, null, v);
    public static GgufValue From(uint v) => new(GgufValueType.UInt32, null, v);
    public static GgufValue From(int v) => new(GgufValueType.Int32, null, v);
    public static GgufValue From(float v) => new(GgufValueType.Float32, null, v);
    public static GgufValue From(bool v) => new(GgufValueType.Bool, null, v);
    public static GgufValue From(ulong v) => new(GgufValueType.UInt64, null, v);
    public static GgufValue From(long v) => new(GgufValueType.Int64, null, v);
    public static GgufValue From(double v) => new(GgufValueType.Float64, null, v);

    // --- arrays --------------------------------------------------------------------------------
    public static GgufValue FromArray(string[] v)
    {
        ArgumentNullException.ThrowIfNull(v);
        if (Array.IndexOf(v, null) >= 0) throw new ArgumentException("String arrays cannot hold null.", nameof(v));
        return Arr(GgufValueType.String, v);
    }

    public static GgufValue FromArray(byte[] v) => Arr(GgufValueType.UInt8, v);
    public static GgufValue FromArray(sbyte[] v) => Arr(GgufValueType.Int8, v);
    public static GgufValue FromArray(ushort[] v) => Arr(GgufValueType.UInt16, v);
    public static GgufValue FromArray(short[] v) => Arr(GgufValueType.Int16, v);
    public static GgufValue FromArray(uint[] v) => Arr(GgufValueType.UInt32, v);
    public static GgufValue FromArray(int[] v) => Arr(GgufValueType.Int32, v);
    public static GgufValue FromArray(float[] v) => Arr(GgufValueType.Float32, v);
    public static GgufValue FromArray(bool[] v) => Arr(GgufValueType.Bool, v);
    public static GgufValue FromArray(ulong[] v) => Arr(GgufValueType.UInt64, v);
    public static GgufValue FromArray(long[] v) => Arr(GgufValueType.Int64, v);
    public static GgufValue FromArray(double[] v) => Arr(GgufValueType.Float64, v);

    /// <summary>An array of arrays; each element must itself be an array value.</summary>
    public static GgufValue FromArray(GgufValue[] arrays)
    {
        ArgumentNullException.ThrowIfNull(arrays);
        foreach (var a in arrays)
            if (a is null || !a.IsArray) throw new ArgumentException("Every element of a nested array must be an array value.", nameof(arrays));
        return Arr(GgufValueType.Array, arrays);
    }

    private static GgufValue Arr(GgufValueType elementType, Array v)
    {
        ArgumentNullException.ThrowIfNull(v);
        return new(GgufValueType.Array, elementType, v.Clone());
    }

    /// <summary>For the reader: wraps an array it has just built, without a copy.</summary>
    internal static GgufValue WrapArray(GgufValueType elementType, Array v) => new(GgufValueType.Array, elementType, v);

    internal static GgufValue WrapScalar(GgufValueType type, object v) => new(type, null, v);

    /// <summary>The array as stored, for the writer, which only reads it.</summary>
    internal Array RawArray => (Array)_value;

    internal object RawValue => _value;

    // --- accessors -----------------------------------------------------------------------------
    public string AsString() => _value as string is { } s && Type == GgufValueType.String ? s : throw Mismatch(nameof(GgufValueType.String));
    public byte AsUInt8() => Scalar<byte>(GgufValueType.UInt8);
    public sbyte AsInt8() => Scalar<sbyte>(GgufValueType.Int8);
    public ushort AsUInt16() => Scalar<ushort>(GgufValueType.UInt16);
    public short AsInt16() => Scalar<short>(GgufValueType.Int16);
    public uint AsUInt32() => Scalar<uint>(GgufValueType.UInt32);
    public int AsInt32() => Scalar<int>(GgufValueType.Int32);
    public float AsFloat32() => Scalar<float>(GgufValueType.Float32);
    public bool AsBool() => Scalar<bool>(GgufValueType.Bool);
    public ulong AsUInt64() => Scalar<ulong>(GgufValueType.UInt64);
    public long AsInt64() => Scalar<long>(GgufValueType.Int64);
    public double AsFloat64() => Scalar<double>(GgufValueType.Float64);

    /// <summary>Any integer scalar widened to long, for readers that do not care which width a writer chose.</summary>
    public long AsInteger() => _value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        ulong v => throw new InvalidCastException($"UInt64 value {v} does not fit in a long."),
        _ => throw Mismatch("an integer"),
    };

    /// <summary>Any float or integer scalar as a double.</summary>
    public double AsNumber() => _value switch
    {
        float f => f,
        double d => d,
        _ when Type != GgufValueType.Bool && !IsArray && Type != GgufValueType.String => AsInteger(),
        _ => throw Mismatch("a number"),
    };

    public string[] AsStringArray() => AsArray<string>();

    /// <summary>A copy of an array value whose element type is <typeparamref name="T"/> (GgufValue for nested arrays).</summary>
    public T[] AsArray<T>() => (T[])Exact<T>().Clone();

    /// <summary>A read-only view of an array value, without a copy (large vocabularies).</summary>
    public IReadOnlyList<T> AsReadOnlyList<T>() => Array.AsReadOnly(Exact<T>());

    // An exact type test: the CLR lets int[] pass "is uint[]" (and sbyte[]/byte[], long[]/ulong[]).
    private T[] Exact<T>() => IsArray && _value.GetType() == typeof(T[]) ? (T[])_value : throw Mismatch($"an array of {typeof(T).Name}");

    private T Scalar<T>(GgufValueType expected) where T : struct
        => Type == expected && _value is T v ? v : throw Mismatch(expected.ToString());

    private InvalidCastException Mismatch(string wanted)
        => new($"GGUF value is {Describe()}, not {wanted}.");

    private string Describe() => IsArray ? $"Array of {ElementType}" : Type.ToString();

    // --- equality ------------------------------------------------------------------------------
    public bool Equals(GgufValue? other)
    {
        if (other is null) return false;
        if (ReferenceEquals(this, other)) return true;
        if (Type != other.Type || ElementType != other.ElementType) return false;
        return (_value, other._value) switch
        {
            // Compare floats by bit pattern so NaN payloads and -0 survive round-trips as "equal".
            (float a, float b) => BitConverter.SingleToUInt32Bits(a) == BitConverter.SingleToUInt32Bits(b),
            (double a, double b) => BitConverter.DoubleToUInt64Bits(a) == BitConverter.DoubleToUInt64Bits(b),
            (float[] a, float[] b) => a.Select(BitConverter.SingleToUInt32Bits).SequenceEqual(b.Select(BitConverter.SingleToUInt32Bits)),
            (double[] a, double[] b) => a.Select(BitConverter.DoubleToUInt64Bits).SequenceEqual(b.Select(BitConverter.DoubleToUInt64Bits)),
            (GgufValue[] a, GgufValue[] b) => a.SequenceEqual(b),
            (string[] a, string[] b) => a.SequenceEqual(b, StringComparer.Ordinal),
            (Array a, Array b) => a.Length == b.Length && a.Cast<object>().SequenceEqual(b.Cast<object>()),
            var (a, b) => a.Equals(b),
        };
    }

    public override bool Equals(object? obj) => Equals(obj as GgufValue);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Type);
        h.Add(ElementType);
        if (_value is Array a) h.Add(a.Length);
        else if (_value is float f) h.Add(BitConverter.SingleToUInt32Bits(f));
        else if (_value is double d) h.Add(BitConverter.DoubleToUInt64Bits(d));
        else h.Add(_value);
        return h.ToHashCode();
    }

    // --- display -------------------------------------------------------------------------------
    private const int ShownElements = 8;
    private const int ShownStringChars = 120;

    /// <summary>A short human form for <c>serve inspect</c>: long strings and arrays are cut.</summary>
    public override string ToString()
    {
        if (_value is Array a)
        {
            var sb = new StringBuilder();
            sb.Append('[').Append(ElementType?.ToString().ToLowerInvariant()).Append(" x ").Append(a.Length).Append(']');
            int shown = Math.Min(a.Length, ShownElements);
            for (int i = 0; i < shown; i++)
                sb.Append(i == 0 ? " " : ", ").Append(Format(a.GetValue(i)!));
            if (shown < a.Length) sb.Append(", ...");
            return sb.ToString();
        }
        return Format(_value);
    }

    private static string Format(object v) => v switch
    {
        string s => Quote(s),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        GgufValue g => g.ToString(),
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        int n = Math.Min(s.Length, ShownStringChars);
        for (int i = 0; i < n; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
        if (n < s.Length) sb.Append("... (").Append(s.Length).Append(" chars)");
        return sb.ToString();
    }
}
