using System.Diagnostics;

namespace Serve.Gguf.Tests;

public sealed class GgufMalformedTests
{
    private static GgufFormatException Fails(byte[] bytes) => Assert.Throws<GgufFormatException>(() => RawGguf.Parse(bytes));

    /// <summary>A small file touching every value type, a nested array, and three tensors of different types.</summary>
    internal static byte[] SampleFile()
    {
        var ms = new MemoryStream();
        new GgufWriter()
            .Set(GgufKeys.Architecture, "llama")
            .Set("u8", GgufValue.From((byte)7)).Set("i8", GgufValue.From((sbyte)-7))
            .Set("u16", GgufValue.From((ushort)700)).Set("i16", GgufValue.From((short)-700))
            .Set("u32", 70000u).Set("i32", -70000).Set("f32", 0.5f).Set("b", true)
            .Set("u64", 1UL << 40).Set("i64", -(1L << 40)).Set("f64", 2.5)
            .SetArray("tokens", new[] { "<s>", "</s>", "▁a" })
            .SetArray("scores", new[] { 0f, -1f, -2f })
            .Set("flags", GgufValue.FromArray(new[] { true, false }))
            .Set("nested", GgufValue.FromArray(new[] { GgufValue.FromArray(new[] { 1, 2 }), GgufValue.FromArray(new[] { "x" }) }))
            .AddTensor("w.f32", [4, 2], new[] { 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f })
            .AddTensor("w.q8", [32], Enumerable.Range(0, 32).Select(i => i / 8f).ToArray(), GgmlType.Q8_0)
            .AddTensor("w.f16", [3], new[] { 1f, -1f, 0.25f }, GgmlType.F16)
            .WriteTo(ms);
        return ms.ToArray();
    }

    /// <summary>
    /// Parses and touches everything; the only acceptable failure is GgufFormatException (and NotSupportedException
    /// from dequantising a type that has no float reader). Returns whether the file parsed.
    /// </summary>
    private static bool ParseAndReadEverything(byte[] bytes)
    {
        try
        {
            using var f = RawGguf.Parse(bytes);
            foreach (var (k, v) in f.Metadata) _ = k + v.ToString();
            foreach (var t in f.Tensors)
            {
                _ = f.ReadTensorBytes(t);
                try
                {
                    _ = f.ReadTensorAsFloat32(t);
                }
                catch (NotSupportedException) when (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0
                                                        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1
                                                        or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K))
                {
                }
            }
            return true;
        }
        catch (GgufFormatException)
        {
            return false;
        }
    }

    [Fact]
    public void Read_TruncatedFile_ThrowsGgufFormatException()
    {
        var full = SampleFile();
        long dataEnd;
        using (var f = RawGguf.Parse(full))
            dataEnd = f.DataOffset + f.Tensors.Max(t => (long)t.Offset + t.ByteSize);
        Assert.True(dataEnd < full.Length); // the last tensor is followed by padding
        for (int len = 0; len < full.Length; len++)
        {
            if (len < dataEnd)
            {
                var e = Assert.Throws<GgufFormatException>(() => RawGguf.Parse(full[..len]));
                Assert.False(string.IsNullOrEmpty(e.Message));
            }
            else
            {
                // Only the trailing padding is missing: like llama.cpp's mmap loader, every tensor is still readable.
                ParseAndReadEverything(full[..len]);
                using var f = RawGguf.Parse(full[..len]);
                Assert.Equal(3, f.Tensors.Count);
            }
        }
    }

    [Fact]
    public void Read_RandomCorruption_ParsesOrThrowsGgufFormatException()
    {
        var full = SampleFile();
        var rng = new Random(20240601);
        int parsed = 0, rejected = 0;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 4000; i++)
        {
            var b = (byte[])full.Clone();
            switch (i % 4)
            {
                case 0: // one bit
                    b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1: // several bits
                    for (int k = rng.Next(2, 9); k > 0; k--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 2: // one byte overwritten
                    b[rng.Next(b.Length)] = (byte)rng.Next(256);
                    break;
                default: // a run of 0xFF or random bytes: hits lengths and counts with huge values
                    int at = rng.Next(b.Length), n = Math.Min(rng.Next(1, 9), b.Length - at);
                    bool ff = rng.Next(2) == 0;
                    for (int k = 0; k < n; k++) b[at + k] = ff ? (byte)0xFF : (byte)rng.Next(256);
                    break;
            }
            if (ParseAndReadEverything(b)) parsed++; else rejected++;
        }
        // Only the header (before the data section) makes parsing take interesting paths; also corrupt there densely.
        int headerLen = 0;
        using (var f = RawGguf.Parse(full)) headerLen = (int)f.DataOffset;
        for (int i = 0; i < 2000; i++)
        {
            var b = (byte[])full.Clone();
            b[rng.Next(headerLen)] = (byte)rng.Next(256);
            if (i % 2 == 0) b[rng.Next(headerLen)] ^= (byte)(1 << rng.Next(8));
            if (ParseAndReadEverything(b)) parsed++; else rejected++;
        }
        // Both outcomes must actually occur, or the loop is not exercising what it claims to.
        Assert.InRange(parsed, 500, 5500);
        Assert.InRange(rejected, 500, 5500);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"corruption loop took {sw.Elapsed}");
    }

    [Fact]
    public void Read_NonSeekableStream_CopiedAndReadable()
    {
        using var f = GgufFile.Read(new NonSeekableStream(SampleFile()));
        Assert.Equal(new[] { 1f, -1f, 0.25f }, f.ReadTensorAsFloat32(f.GetTensor("w.f16")));
    }

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }

    [Fact]
    public void Read_BadMagic_Throws()
    {
        var e = Fails("GGML\x03\0\0\0"u8.ToArray().Concat(new byte[16]).ToArray());
        Assert.Contains("magic", e.Message);
        Assert.Equal(0, e.Offset);
    }

    [Fact]
    public void Read_Version1_ThrowsWithClearMessage()
    {
        var e = Fails(new RawGguf().Header(0, 0, version: 1).ToArray());
        Assert.Contains("version 1", e.Message);
        Assert.Equal(4, e.Offset);
    }

    [Fact]
    public void Read_BigEndianFile_ThrowsWithClearMessage()
    {
        var e = Fails(new RawGguf().Bytes("GGUF"u8).Bytes(new byte[] { 0, 0, 0, 3 }).U64(0).U64(0).ToArray());
        Assert.Contains("big-endian", e.Message);
    }

    [Fact]
    public void Read_FutureVersion_Throws()
    {
        Assert.Contains("version 4", Fails(new RawGguf().Header(0, 0, version: 4).ToArray()).Message);
    }

    [Fact]
    public void Read_DuplicateKey_Throws()
    {
        var e = Fails(new RawGguf().Header(0, 2).KvU32("a", 1).KvU32("a", 2).ToArray());
        Assert.Contains("Duplicate metadata key 'a'", e.Message);
    }

    [Fact]
    public void Read_EmptyKey_Throws()
    {
        Assert.Contains("empty key", Fails(new RawGguf().Header(0, 1).KvU32("", 1).ToArray()).Message);
    }

    [Fact]
    public void Read_DuplicateTensorName_Throws()
    {
        var bytes = new RawGguf().Header(2, 0)
            .TensorInfo("t", GgmlType.F32, 0, 1).TensorInfo("t", GgmlType.F32, 32, 1)
            .PadTo(32).Bytes(new byte[64]).ToArray();
        Assert.Contains("Duplicate tensor name 't'", Fails(bytes).Message);
    }

    [Fact]
    public void Read_MisalignedTensorOffset_Throws()
    {
        var bytes = new RawGguf().Header(1, 0).TensorInfo("t", GgmlType.F32, 4, 1).PadTo(32).Bytes(new byte[64]).ToArray();
        Assert.Contains("alignment", Fails(bytes).Message);
    }

    [Fact]
    public void Read_TensorDataPastEndOfFile_Throws()
    {
        var bytes = new RawGguf().Header(1, 0).TensorInfo("t", GgmlType.F32, 0, 100).PadTo(32).Bytes(new byte[64]).ToArray();
        var e = Fails(bytes);
        Assert.Contains("'t'", e.Message);
        Assert.Contains("past the end", e.Message);
    }

    [Fact]
    public void Read_OverlappingTensors_Throws()
    {
        var bytes = new RawGguf().Header(2, 0)
            .TensorInfo("a", GgmlType.F32, 0, 16).TensorInfo("b", GgmlType.F32, 32, 16)
            .PadTo(32).Bytes(new byte[128]).ToArray();
        Assert.Contains("overlaps", Fails(bytes).Message);
    }

    [Fact]
    public void Read_UnknownTensorType_Throws()
    {
        var bytes = new RawGguf().Header(1, 0).TensorInfo("t", (GgmlType)4, 0, 32).PadTo(32).Bytes(new byte[64]).ToArray();
        Assert.Contains("unknown ggml type 4", Fails(bytes).Message);
    }

    [Fact]
    public void Read_RowNotMultipleOfBlock_Throws()
    {
        var bytes = new RawGguf().Header(1, 0).TensorInfo("t", GgmlType.Q8_0, 0, 31).PadTo(32).Bytes(new byte[64]).ToArray();
        Assert.Contains("block size", Fails(bytes).Message);
    }

    [Fact]
    public void Read_TooManyDimensions_Throws()
    {
        var bytes = new RawGguf().Header(1, 0).TensorInfo("t", GgmlType.F32, 0, 1, 1, 1, 1, 1).PadTo(32).Bytes(new byte[32]).ToArray();
        Assert.Contains("5 dimensions", Fails(bytes).Message);
    }

    [Fact]
    public void Read_ElementCountOverflow_Throws()
    {
        var bytes = new RawGguf().Header(1, 0).TensorInfo("t", GgmlType.F32, 0, 1UL << 32, 1UL << 32).PadTo(32).ToArray();
        Assert.Contains("too many elements", Fails(bytes).Message);
    }

    [Fact]
    public void Read_TensorNameTooLongForGgml_Throws()
    {
        var bytes = new RawGguf().Header(1, 0).TensorInfo(new string('n', 64), GgmlType.F32, 0, 1).PadTo(32).Bytes(new byte[32]).ToArray();
        Assert.Contains("longer than 63 bytes", Fails(bytes).Message);
    }

    [Fact]
    public void Read_UnknownValueType_Throws()
    {
        var e = Fails(new RawGguf().Header(0, 1).Str("k").U32(13).U32(0).ToArray());
        Assert.Contains("Unknown value type 13", e.Message);
        Assert.Equal(4 + 4 + 8 + 8 + 8 + 1, e.Offset);
    }

    [Fact]
    public void Read_HugeArrayCount_ThrowsBeforeAllocating()
    {
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var e = Fails(new RawGguf().Header(0, 1).Str("k").U32((uint)GgufValueType.Array).U32((uint)GgufValueType.UInt64).U64(1UL << 60).U64(0).ToArray());
        Assert.Contains("claims", e.Message);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 4 << 20);
    }

    [Fact]
    public void Read_HugeStringLength_ThrowsBeforeAllocating()
    {
        var e = Fails(new RawGguf().Header(0, 1).Str("k").U32((uint)GgufValueType.String).U64(ulong.MaxValue).ToArray());
        Assert.Contains("exceeds", e.Message);
    }

    [Fact]
    public void Read_HugeCounts_Throw()
    {
        Assert.Contains("Tensor count", Fails(new RawGguf().Header(ulong.MaxValue, 0).ToArray()).Message);
        Assert.Contains("Metadata count", Fails(new RawGguf().Header(0, 1UL << 40).ToArray()).Message);
    }

    [Fact]
    public void Read_InvalidUtf8_Throws()
    {
        var bytes = new RawGguf().Header(0, 1).Str("k").U32((uint)GgufValueType.String).U64(2).Bytes(new byte[] { 0xC3, 0x28 }).ToArray();
        Assert.Contains("UTF-8", Fails(bytes).Message);
        var key = new RawGguf().Header(0, 1).U64(1).U8(0xFF).U32((uint)GgufValueType.UInt32).U32(0).ToArray();
        Assert.Contains("UTF-8", Fails(key).Message);
    }

    [Fact]
    public void Read_DeeplyNestedArrays_ThrowsInsteadOfOverflowingStack()
    {
        var raw = new RawGguf().Header(0, 1).Str("k").U32((uint)GgufValueType.Array);
        for (int i = 0; i < 100_000; i++) raw.U32((uint)GgufValueType.Array).U64(1);
        raw.U32((uint)GgufValueType.UInt8).U64(0);
        Assert.Contains("nested", Fails(raw.ToArray()).Message);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(48u)]
    public void Read_AlignmentNotPowerOfTwo_Throws(uint alignment)
    {
        Assert.Contains("power of two", Fails(new RawGguf().Header(0, 1).KvU32(GgufKeys.Alignment, alignment).ToArray()).Message);
    }

    [Fact]
    public void Read_AlignmentWrongType_Throws()
    {
        var bytes = new RawGguf().Header(0, 1).Str(GgufKeys.Alignment).U32((uint)GgufValueType.UInt64).U64(64).ToArray();
        Assert.Contains("must be UInt32", Fails(bytes).Message);
    }

    [Fact]
    public void Read_DataSectionPastEnd_Throws()
    {
        // Header ends mid-way to the 32-byte boundary with a tensor declared: the padding itself is missing.
        var bytes = new RawGguf().Header(1, 0).TensorInfo("t", GgmlType.F32, 0, 0).ToArray();
        Assert.NotEqual(0, bytes.Length % 32);
        Assert.Contains("Data section", Fails(bytes).Message);
    }

    [Fact]
    public void Read_FileWithGgufInsideOtherBytes_BoolNonZeroIsTrue()
    {
        // gguf.cpp reads any non-zero bool byte as true; match it rather than reject.
        var bytes = new RawGguf().Header(0, 1).Str("b").U32((uint)GgufValueType.Bool).U8(2).ToArray();
        using var f = RawGguf.Parse(bytes);
        Assert.True(f.GetBool("b"));
    }

    [Fact]
    public void Read_CorruptTensorInfoPassedToReadTensorBytes_ThrowsFormatException()
    {
        using var f = RawGguf.Parse(SampleFile());
        var bogus = f.Tensors[0] with { Offset = 1UL << 40 };
        Assert.Throws<GgufFormatException>(() => f.ReadTensorBytes(bogus));
        Assert.Throws<GgufFormatException>(() => f.ReadTensorAsFloat32(bogus));
    }

    [Fact]
    public void ReadTensor_AfterDispose_ThrowsObjectDisposed()
    {
        var f = RawGguf.Parse(SampleFile());
        var t = f.Tensors[0];
        f.Dispose();
        Assert.Throws<ObjectDisposedException>(() => f.ReadTensorBytes(t));
    }

    [Fact]
    public void Read_PathWithTruncatedFile_ThrowsAndReleasesHandle()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, SampleFile()[..40]);
            Assert.Throws<GgufFormatException>(() => GgufFile.Read(path));
            File.Delete(path); // would fail on a platform that locks open files if the handle leaked
        }
        finally
        {
            if (File.Exists(path)) File.Delete(path);
        }
    }
}
