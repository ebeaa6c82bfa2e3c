using System.Buffers.Binary;

namespace Serve.Gguf.Tests;

public sealed class GgufRoundTripTests
{
    private static byte[] Write(GgufWriter w)
    {
        var ms = new MemoryStream();
        w.WriteTo(ms);
        return ms.ToArray();
    }

    [Fact]
    public void WriteTo_TinyFile_MatchesGgufCppLayoutByteForByte()
    {
        var written = Write(new GgufWriter()
            .Set(GgufKeys.Architecture, "llama")
            .AddTensor("t", [2], new[] { 1f, 2f }));

        var expected = new RawGguf()
            .Header(tensors: 1, kvs: 1)
            .KvStr("general.architecture", "llama")
            .TensorInfo("t", GgmlType.F32, 0, 2)
            .PadTo(32)
            .F32(1f).F32(2f)
            .PadTo(32)
            .ToArray();
        Assert.Equal(expected, written);
    }

    [Fact]
    public void WriteTo_SecondTensorOffset_IsPaddedSizeOfFirst()
    {
        var bytes = Write(new GgufWriter()
            .AddTensor("a", [3], new[] { 1f, 2f, 3f })          // 12 bytes, padded to 32
            .AddTensor("b", [64], new float[64], GgmlType.Q8_0)); // 2 blocks
        using var f = RawGguf.Parse(bytes);
        Assert.Equal(0UL, f.Tensors[0].Offset);
        Assert.Equal(32UL, f.Tensors[1].Offset);
        Assert.Equal(f.DataOffset + 32 + 68 + 28, bytes.Length);
        Assert.Equal(0, f.DataOffset % 32);
    }

    [Fact]
    public void RoundTrip_TensorInfosAndData_Preserved()
    {
        var rng = new Random(3);
        var a = Enumerable.Range(0, 4 * 6).Select(_ => (float)rng.NextDouble()).ToArray();
        var raw = Enumerable.Range(0, 2 * 34).Select(i => (byte)i).ToArray();
        var bytes = Write(new GgufWriter()
            .AddTensor("blk.0.attn_q.weight", [4, 6], a)
            .AddTensor("raw.q8", GgmlType.Q8_0, [64], raw)
            .AddTensor("cube", [2, 3, 4, 1], new float[24], GgmlType.F16));
        using var f = RawGguf.Parse(bytes);

        Assert.Equal(new[] { "blk.0.attn_q.weight", "raw.q8", "cube" }, f.Tensors.Select(t => t.Name));
        var t0 = f.GetTensor("blk.0.attn_q.weight");
        Assert.Equal(GgmlType.F32, t0.Type);
        Assert.Equal(new long[] { 4, 6 }, t0.Shape);
        Assert.Equal(24, t0.ElementCount);
        Assert.Equal(96, t0.ByteSize);
        Assert.Equal(a, f.ReadTensorAsFloat32(t0));
        Assert.Equal(raw, f.ReadTensorBytes(f.GetTensor("raw.q8")));
        Assert.Equal(new long[] { 2, 3, 4, 1 }, f.GetTensor("cube").Shape);
        Assert.True(f.TryGetTensor("cube", out var cube));
        Assert.Equal(GgmlType.F16, cube.Type);
        Assert.False(f.TryGetTensor("nope", out _));
        var e = Assert.Throws<KeyNotFoundException>(() => f.GetTensor("missing.weight"));
        Assert.Contains("missing.weight", e.Message);
    }

    [Theory]
    [InlineData(32u)]
    [InlineData(64u)]
    [InlineData(1u)]
    [InlineData(4096u)]
    public void RoundTrip_Alignment_HonouredAndWrittenOnlyWhenNotDefault(uint alignment)
    {
        var bytes = Write(new GgufWriter { Alignment = alignment }
            .Set("k", 1u)
            .AddTensor("a", [3], new[] { 1f, 2f, 3f })
            .AddTensor("b", [5], new[] { 1f, 2f, 3f, 4f, 5f }));
        using var f = RawGguf.Parse(bytes);
        Assert.Equal(alignment, f.Alignment);
        Assert.Equal(0, f.DataOffset % alignment);
        Assert.Equal(0UL, f.Tensors[1].Offset % alignment);
        Assert.Equal(alignment != 32, f.Metadata.ContainsKey(GgufKeys.Alignment));
        Assert.Equal(new[] { 1f, 2f, 3f, 4f, 5f }, f.ReadTensorAsFloat32(f.GetTensor("b")));
        Assert.Equal(0, bytes.Length % alignment);
    }

    [Fact]
    public void Alignment_NotPowerOfTwo_Rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter { Alignment = 48 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter { Alignment = 0 });
        Assert.Throws<ArgumentException>(() => new GgufWriter().Set(GgufKeys.Alignment, 64));
    }

    [Fact]
    public void Set_InsertionOrderKept_ReplaceKeepsPosition()
    {
        var w = new GgufWriter().Set("z", 1u).Set("a", "x").Set("m", true).Set("a", "y").SetArray("q", new[] { 1f });
        using var f = RawGguf.Parse(Write(w));
        Assert.Equal(new[] { "z", "a", "m", "q" }, f.Metadata.Keys);
        Assert.Equal("y", f.GetString("a"));
        Assert.Equal(new[] { "z", "a", "m", "q" }, f.Metadata.Select(kv => kv.Key));
    }

    [Fact]
    public void TypedGetters_AbsentNull_WrongTypeThrowsFormatException()
    {
        using var f = RawGguf.Parse(Write(new GgufWriter()
            .Set(GgufKeys.Architecture, "llama").Set(GgufKeys.ContextLength("llama"), 2048u).Set("i", -3)
            .SetArray(GgufKeys.TokenizerTokens, new[] { "a", "b" })));
        Assert.Equal("llama", f.Architecture);
        Assert.Equal(2048u, f.GetUInt32("llama.context_length"));
        Assert.Equal(2048, f.GetInteger("llama.context_length"));
        Assert.Null(f.GetUInt32("absent"));
        Assert.Null(f.GetString("absent"));
        Assert.Equal(new[] { "a", "b" }, f.GetStringArray(GgufKeys.TokenizerTokens));
        var e = Assert.Throws<GgufFormatException>(() => f.GetUInt32("i"));
        Assert.Contains("'i'", e.Message);
        Assert.Throws<GgufFormatException>(() => f.GetString(GgufKeys.TokenizerTokens));
    }

    [Fact]
    public void AddTensor_Invalid_Throws()
    {
        var w = new GgufWriter().AddTensor("a", [2], new[] { 1f, 2f });
        Assert.Throws<ArgumentException>(() => w.AddTensor("a", [2], new[] { 1f, 2f }));                  // duplicate
        Assert.Throws<ArgumentException>(() => w.AddTensor("b", [3], new[] { 1f, 2f }));                  // count
        Assert.Throws<ArgumentException>(() => w.AddTensor("c", GgmlType.F16, [4], new byte[7]));          // bytes
        Assert.Throws<ArgumentException>(() => w.AddTensor("d", [33], new float[33], GgmlType.Q8_0));      // block
        Assert.Throws<ArgumentException>(() => w.AddTensor(new string('x', 64), [1], new[] { 1f }));       // ggml name limit
        Assert.Throws<ArgumentException>(() => w.AddTensor("e", [1, 1, 1, 1, 1], new[] { 1f }));           // dims
        Assert.Throws<NotSupportedException>(() => w.AddTensor("f", [256], new float[256], GgmlType.Q5_K)); // Q4_K and Q6_K are written; Q5_K is not
        w.AddTensor(new string('x', 63), [1], new[] { 1f });
    }

    [Fact]
    public void WriteTo_Path_AtomicAndOverwrites()
    {
        var dir = Directory.CreateTempSubdirectory("gguf-test-");
        try
        {
            var path = Path.Combine(dir.FullName, "m.gguf");
            new GgufWriter().Set("v", 1u).WriteTo(path);
            new GgufWriter().Set("v", 2u).AddTensor("t", [2], new[] { 5f, 6f }).WriteTo(path);
            Assert.False(File.Exists(path + ".tmp"));
            using var f = GgufFile.Read(path);
            Assert.Equal(2u, f.GetUInt32("v"));
            Assert.Equal(new[] { 5f, 6f }, f.ReadTensorAsFloat32(f.GetTensor("t")));
            Assert.Equal(new FileInfo(path).Length, f.Length);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void From_CopiesFile_RewritesIdenticalBytes()
    {
        var original = Write(new GgufWriter { Alignment = 64 }
            .Set(GgufKeys.Architecture, "llama")
            .Set("n", GgufValue.FromArray(new[] { GgufValue.FromArray(new[] { 1, 2 }) }))
            .AddTensor("a", [32], new float[32].Select((_, i) => (float)i).ToArray(), GgmlType.Q8_0)
            .AddTensor("b", [4], new[] { 1f, 2f, 3f, 4f }, GgmlType.BF16));
        using var f = RawGguf.Parse(original);
        Assert.Equal(original, Write(GgufWriter.From(f)));
    }

    [Fact]
    public void Read_StreamNotAtStart_OffsetsRelativeToGgufStart()
    {
        var gguf = Write(new GgufWriter().AddTensor("t", [2], new[] { 7f, 8f }));
        var ms = new MemoryStream();
        ms.Write(new byte[13]);
        ms.Write(gguf);
        ms.Position = 13;
        using var f = GgufFile.Read(ms, leaveOpen: true);
        Assert.Equal(new[] { 7f, 8f }, f.ReadTensorAsFloat32(f.GetTensor("t")));
        f.Dispose();
        Assert.True(ms.CanRead); // leaveOpen honoured
    }

    [Fact]
    public void Read_Version2_Accepted()
    {
        var bytes = Write(new GgufWriter().Set("k", 1u));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 2);
        using var f = RawGguf.Parse(bytes);
        Assert.Equal(2u, f.Version);
    }

    [Fact]
    public void Read_NoTensors_Parses()
    {
        using var f = RawGguf.Parse(new RawGguf().Header(0, 1).KvStr("a", "b").ToArray());
        Assert.Empty(f.Tensors);
        Assert.Equal("b", f.GetString("a"));
    }
}
