namespace Serve.Gguf.Tests;

public sealed class Float16Tests
{
    [Theory]
    [InlineData(1.0f, 0x3C00)]
    [InlineData(-2.0f, 0xC000)]
    [InlineData(0.5f, 0x3800)]
    [InlineData(65504f, 0x7BFF)]
    [InlineData(0.1f, 0x2E66)]           // 0.1 = 1.6 * 2^-4; 0.6 * 1024 = 614.4 -> 614 = 0x266
    [InlineData(1e6f, 0x7C00)]           // overflow to +inf
    [InlineData(5.9604645e-8f, 0x0001)]  // smallest subnormal, 2^-24
    public void ToHalfBits_KnownValues(float v, int bits)
    {
        Assert.Equal((ushort)bits, Float16.ToHalfBits(v));
    }

    [Fact]
    public void ToHalfBits_Tie_RoundsToEven()
    {
        // 1 + 2^-11 is exactly halfway between 1 (0x3C00, even) and 1 + 2^-10 (0x3C01).
        Assert.Equal(0x3C00, Float16.ToHalfBits(1f + MathF.Pow(2, -11)));
        // 1 + 3 * 2^-11 is halfway between 0x3C01 (odd) and 0x3C02 (even).
        Assert.Equal(0x3C02, Float16.ToHalfBits(1f + 3 * MathF.Pow(2, -11)));
    }

    [Theory]
    [InlineData(0x3F800000u, 0x3F80)] // 1.0
    [InlineData(0x3F808000u, 0x3F80)] // tie, lower neighbour even: stays
    [InlineData(0x3F818000u, 0x3F82)] // tie, lower neighbour odd: rounds up to even
    [InlineData(0x3F808001u, 0x3F81)] // just above the tie: up
    [InlineData(0x3F807FFFu, 0x3F80)] // just below the tie: down
    [InlineData(0xC0490FDBu, 0xC049)] // -pi
    [InlineData(0x7F7FFFFFu, 0x7F80)] // max float rounds to +inf, as ggml does
    public void ToBFloat16Bits_RoundsToNearestEven(uint floatBits, int expected)
    {
        Assert.Equal((ushort)expected, Float16.ToBFloat16Bits(BitConverter.UInt32BitsToSingle(floatBits)));
    }

    [Fact]
    public void ToBFloat16Bits_NaNWithLowPayload_StaysNaN()
    {
        var nan = BitConverter.UInt32BitsToSingle(0x7F800001);
        Assert.True(float.IsNaN(Float16.FromBFloat16Bits(Float16.ToBFloat16Bits(nan))));
    }

    [Fact]
    public void RoundTrip_RandomValues_WithinPrecision()
    {
        var rng = new Random(7);
        for (int i = 0; i < 2000; i++)
        {
            float v = (float)(rng.NextDouble() * 200 - 100);
            float h = Float16.FromHalfBits(Float16.ToHalfBits(v));
            float b = Float16.FromBFloat16Bits(Float16.ToBFloat16Bits(v));
            Assert.True(Math.Abs(h - v) <= Math.Abs(v) * (1f / 2048) + 1e-7f, $"half {v} -> {h}");
            Assert.True(Math.Abs(b - v) <= Math.Abs(v) * (1f / 256), $"bf16 {v} -> {b}");
        }
    }
}
