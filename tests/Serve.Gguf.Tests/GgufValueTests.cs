namespace Serve.Gguf.Tests;

public sealed class GgufValueTests
{
    public static TheoryData<string, GgufValue> EveryType() => new()
    {
        { "u8", GgufValue.From((byte)200) },
        { "i8", GgufValue.From((sbyte)-100) },
        { "u16", GgufValue.From((ushort)60000) },
        { "i16", GgufValue.From((short)-30000) },
        { "u32", GgufValue.From(4_000_000_000u) },
        { "i32", GgufValue.From(-2_000_000_000) },
        { "f32", GgufValue.From(3.25f) },
        { "f32nan", GgufValue.From(float.NaN) },
        { "bool", GgufValue.From(true) },
        { "str", GgufValue.From("héllo \u4e16\u754c 🦙") },
        { "emptystr", GgufValue.From("") },
        { "u64", GgufValue.From(ulong.MaxValue) },
        { "i64", GgufValue.From(long.MinValue) },
        { "f64", GgufValue.From(Math.PI) },
        { "a_u8", GgufValue.FromArray(new byte[] { 0, 1, 255 }) },
        { "a_i8", GgufValue.FromArray(new sbyte[] { -128, 0, 127 }) },
        { "a_u16", GgufValue.FromArray(new ushort[] { 0, 65535 }) },
        { "a_i16", GgufValue.FromArray(new short[] { -32768, 32767 }) },
        { "a_u32", GgufValue.FromArray(new uint[] { 1, uint.MaxValue }) },
        { "a_i32", GgufValue.FromArray(new[] { -1, 0, int.MaxValue }) },
        { "a_f32", GgufValue.FromArray(new[] { -0f, 1.5f, float.PositiveInfinity }) },
        { "a_bool", GgufValue.FromArray(new[] { true, false, true }) },
        { "a_str", GgufValue.FromArray(new[] { "<s>", "", "▁the", "\n" }) },
        { "a_u64", GgufValue.FromArray(new ulong[] { 0, ulong.MaxValue }) },
        { "a_i64", GgufValue.FromArray(new[] { long.MinValue, 7L }) },
        { "a_f64", GgufValue.FromArray(new[] { double.Epsilon, -1e300 }) },
        { "a_empty", GgufValue.FromArray(Array.Empty<int>()) },
        { "a_nested", GgufValue.FromArray(new[] {
            GgufValue.FromArray(new[] { 1, 2 }),
            GgufValue.FromArray(new[] { "x", "y" }),
            GgufValue.FromArray(new[] { GgufValue.FromArray(new[] { 1.5 }) }),
            GgufValue.FromArray(Array.Empty<string>()),
        }) },
    };

    [Theory]
    [MemberData(nameof(EveryType))]
    public void RoundTrip_EveryValueType_ReadsBackEqual(string key, GgufValue value)
    {
        var ms = new MemoryStream();
        new GgufWriter().Set(key, value).WriteTo(ms);
        using var f = RawGguf.Parse(ms.ToArray());
        var back = Assert.Single(f.Metadata);
        Assert.Equal(key, back.Key);
        Assert.Equal(value.Type, back.Value.Type);
        Assert.Equal(value.ElementType, back.Value.ElementType);
        Assert.Equal(value, back.Value);
    }

    [Fact]
    public void Accessors_RightType_ReturnValue_WrongType_ThrowInvalidCast()
    {
        Assert.Equal(5u, GgufValue.From(5u).AsUInt32());
        Assert.Equal("a", GgufValue.From("a").AsString());
        Assert.Equal(new[] { "a", "b" }, GgufValue.FromArray(new[] { "a", "b" }).AsStringArray());
        Assert.Equal(new[] { 1f, 2f }, GgufValue.FromArray(new[] { 1f, 2f }).AsArray<float>());
        Assert.Throws<InvalidCastException>(() => GgufValue.From(5u).AsInt32());
        Assert.Throws<InvalidCastException>(() => GgufValue.From("5").AsUInt32());
        Assert.Throws<InvalidCastException>(() => GgufValue.FromArray(new[] { 1 }).AsArray<uint>());
    }

    [Fact]
    public void AsInteger_EveryIntegerType_Widens()
    {
        Assert.Equal(200, GgufValue.From((byte)200).AsInteger());
        Assert.Equal(-5, GgufValue.From((sbyte)-5).AsInteger());
        Assert.Equal(4_000_000_000, GgufValue.From(4_000_000_000u).AsInteger());
        Assert.Equal(-7, GgufValue.From(-7L).AsInteger());
        Assert.Equal(42, GgufValue.From(42UL).AsInteger());
        Assert.Throws<InvalidCastException>(() => GgufValue.From(ulong.MaxValue).AsInteger());
        Assert.Throws<InvalidCastException>(() => GgufValue.From(1.0f).AsInteger());
        Assert.Throws<InvalidCastException>(() => GgufValue.From(true).AsInteger());
    }

    [Fact]
    public void FromArray_CallerMutatesSource_ValueUnchanged()
    {
        var src = new[] { 1, 2, 3 };
        var v = GgufValue.FromArray(src);
        src[0] = 99;
        v.AsArray<int>()[1] = 99;
        ((int[])v.Value)[2] = 99;
        Assert.Equal(new[] { 1, 2, 3 }, v.AsArray<int>());
    }

    [Fact]
    public void FromArray_NestedElementNotArray_Throws()
    {
        Assert.Throws<ArgumentException>(() => GgufValue.FromArray(new[] { GgufValue.From(1) }));
        Assert.Throws<ArgumentException>(() => GgufValue.FromArray(new string[] { null! }));
    }

    [Fact]
    public void ToString_ShortAndReadable()
    {
        Assert.Equal("42", GgufValue.From(42u).ToString());
        Assert.Equal("1.5", GgufValue.From(1.5f).ToString());
        Assert.Equal("true", GgufValue.From(true).ToString());
        Assert.Equal("\"a\\nb\"", GgufValue.From("a\nb").ToString());
        Assert.Equal("[int32 x 3] 1, 2, 3", GgufValue.FromArray(new[] { 1, 2, 3 }).ToString());
        var big = GgufValue.FromArray(Enumerable.Range(0, 32000).Select(i => $"t{i}").ToArray()).ToString();
        Assert.StartsWith("[string x 32000] \"t0\", \"t1\"", big);
        Assert.EndsWith(", ...", big);
        Assert.True(big.Length < 200);
    }
}
