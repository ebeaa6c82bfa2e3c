using System.Buffers.Binary;

namespace Serve.Gguf.Tests;

public sealed class QuantizationTests
{
    private static (byte[] Bytes, float[] Back) RoundTrip(float[] values, GgmlType type)
    {
        var ms = new MemoryStream();
        new GgufWriter().AddTensor("t", [values.Length], values, type).WriteTo(ms);
        using var f = GgufFile.Read(new MemoryStream(ms.ToArray()));
        var t = f.GetTensor("t");
        return (f.ReadTensorBytes(t), f.ReadTensorAsFloat32(t));
    }

    private static float[] Ramp() => Enumerable.Range(0, 32).Select(j => (float)(j - 16)).ToArray();

    [Fact]
    public void Q8_0_Ramp_BytesMatchReferenceQuantiser()
    {
        // amax = 16, d = 16/127 = 0.12598 -> half 0x3008 (2^-3 * (1 + 8/1024)); 1/d = 7.9375, q = round(x * 7.9375).
        var (bytes, back) = RoundTrip(Ramp(), GgmlType.Q8_0);
        Assert.Equal(34, bytes.Length);
        Assert.Equal(0x3008, BinaryPrimitives.ReadUInt16LittleEndian(bytes));
        Assert.Equal(-127, (sbyte)bytes[2 + 0]);   // -16
        Assert.Equal(-8, (sbyte)bytes[2 + 15]);    // -1 -> -7.94 -> -8
        Assert.Equal(0, (sbyte)bytes[2 + 16]);     // 0
        Assert.Equal(8, (sbyte)bytes[2 + 17]);     // 1
        Assert.Equal(16, (sbyte)bytes[2 + 18]);    // 2 -> 15.875 -> 16
        Assert.Equal(119, (sbyte)bytes[2 + 31]);   // 15 -> 119.06 -> 119
        float d = (float)BitConverter.UInt16BitsToHalf(0x3008);
        Assert.Equal(-127 * d, back[0]);
        Assert.Equal(119 * d, back[31]);
    }

    [Fact]
    public void Q8_0_HalfwayValue_RoundsAwayFromZero()
    {
        // amax 127 gives d = 1 exactly, so x = 2.5 must become 3 (roundf), not 2 (banker's rounding).
        var x = new float[32];
        x[0] = 127; x[1] = 2.5f; x[2] = -2.5f;
        var (bytes, _) = RoundTrip(x, GgmlType.Q8_0);
        Assert.Equal(0x3C00, BinaryPrimitives.ReadUInt16LittleEndian(bytes));
        Assert.Equal(3, (sbyte)bytes[3]);
        Assert.Equal(-3, (sbyte)bytes[4]);
    }

    [Fact]
    public void Q4_0_Ramp_BytesMatchReferenceQuantiser()
    {
        // The value of largest magnitude is -16, so d = -16 / -8 = 2 (half 0x4000), q = min(15, trunc(x/2 + 8.5)).
        var (bytes, back) = RoundTrip(Ramp(), GgmlType.Q4_0);
        Assert.Equal(18, bytes.Length);
        Assert.Equal(0x4000, BinaryPrimitives.ReadUInt16LittleEndian(bytes));
        Assert.Equal(0x80, bytes[2]);      // q(-16) = 0 low, q(0) = 8 high
        Assert.Equal(0xF8, bytes[2 + 15]); // q(-1) = trunc(8.0) = 8 low, q(15) = min(15, 16) high
        Assert.Equal(-16f, back[0]);
        Assert.Equal(14f, back[31]);
    }

    [Fact]
    public void AllZero_Block_QuantisesToZeroScale()
    {
        var (q8, back8) = RoundTrip(new float[32], GgmlType.Q8_0);
        Assert.All(q8, b => Assert.Equal(0, b));
        Assert.All(back8, v => Assert.Equal(0f, v));
        var (_, back4) = RoundTrip(new float[32], GgmlType.Q4_0);
        Assert.All(back4, v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void Convert_RandomNormal_ErrorWithinOneQuantum(GgmlType type)
    {
        var rng = new Random(11);
        var x = Enumerable.Range(0, 32 * 64).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()))).ToArray();
        var (_, back) = RoundTrip(x, type);
        for (int blk = 0; blk < x.Length / 32; blk++)
        {
            float amax = x.Skip(blk * 32).Take(32).Max(Math.Abs);
            for (int j = blk * 32; j < blk * 32 + 32; j++)
            {
                float tol = type switch
                {
                    GgmlType.F16 => Math.Abs(x[j]) / 2048 + 1e-7f,
                    GgmlType.BF16 => Math.Abs(x[j]) / 256,
                    GgmlType.Q8_0 => amax / 127 * 0.5f + amax * 1e-3f, // half a step, plus the fp16 rounding of d
                    _ => amax / 8 + amax * 1e-3f,                       // Q4_0: one step of |max| / 8
                };
                Assert.True(Math.Abs(back[j] - x[j]) <= tol, $"{type}[{j}]: {x[j]} -> {back[j]} (tol {tol})");
            }
        }
    }

    private static float[] ReadRaw(GgmlType type, byte[] block, int elements)
    {
        var ms = new MemoryStream();
        new GgufWriter().AddTensor("t", type, [elements], block).WriteTo(ms);
        using var f = GgufFile.Read(new MemoryStream(ms.ToArray()));
        return f.ReadTensorAsFloat32(f.GetTensor("t"));
    }

    [Fact]
    public void Q4_K_HandBuiltBlock_DequantisesPerLayout()
    {
        var b = new byte[144];
        BinaryPrimitives.WriteUInt16LittleEndian(b, 0x3C00);      // d = 1
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), 0x3C00); // dmin = 1
        for (int i = 0; i < 4; i++) { b[4 + i] = 2; b[8 + i] = 1; } // sub-blocks 0-3: scale 2, min 1
        for (int i = 0; i < 4; i++) b[12 + i] = 0x13;                // sub-blocks 4-7: scale 3, min 1
        for (int i = 0; i < 128; i++) b[16 + i] = 0x21;              // low nibble 1, high nibble 2
        var y = ReadRaw(GgmlType.Q4_K, b, 256);
        // Each 64-element chunk: 32 values from low nibbles (sub-block 2k), then 32 from high nibbles (2k+1).
        Assert.Equal(2 * 1 - 1, y[0]);
        Assert.Equal(2 * 2 - 1, y[32]);
        Assert.Equal(2 * 1 - 1, y[64]);
        Assert.Equal(3 * 1 - 1, y[128]);
        Assert.Equal(3 * 2 - 1, y[255]);
    }

    [Fact]
    public void Q6_K_HandBuiltBlock_DequantisesPerLayout()
    {
        var b = new byte[210];
        for (int i = 0; i < 128; i++) b[i] = 0x21;       // ql: low 1, high 2
        for (int i = 0; i < 64; i++) b[128 + i] = 0xE4;  // qh: 2-bit fields 0, 1, 2, 3
        for (int i = 0; i < 16; i++) b[192 + i] = 2;     // scales
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(208), 0x3C00);
        var y = ReadRaw(GgmlType.Q6_K, b, 256);
        foreach (int half in new[] { 0, 128 })
        {
            Assert.Equal(2 * (1 - 32), y[half + 0]);
            Assert.Equal(2 * (17 - 32), y[half + 32]);
            Assert.Equal(2 * (34 - 32), y[half + 64]);
            Assert.Equal(2 * (50 - 32), y[half + 127]);
        }
    }

    [Fact]
    public void ReadTensorAsFloat32_UnsupportedType_ThrowsNotSupported()
    {
        var y = () => ReadRaw(GgmlType.IQ2_XXS, new byte[66], 256);
        Assert.Throws<NotSupportedException>(y);
    }
}
