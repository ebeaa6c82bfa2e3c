namespace Serve.Gguf.Tests;

public sealed class GgmlTypeInfoTests
{
    [Theory]
    [InlineData(GgmlType.F32, 1, 4)]
    [InlineData(GgmlType.F16, 1, 2)]
    [InlineData(GgmlType.BF16, 1, 2)]
    [InlineData(GgmlType.Q8_0, 32, 34)]
    [InlineData(GgmlType.Q4_0, 32, 18)]
    [InlineData(GgmlType.Q4_1, 32, 20)]
    [InlineData(GgmlType.Q5_0, 32, 22)]
    [InlineData(GgmlType.Q5_1, 32, 24)]
    [InlineData(GgmlType.Q2_K, 256, 84)]
    [InlineData(GgmlType.Q3_K, 256, 110)]
    [InlineData(GgmlType.Q4_K, 256, 144)]
    [InlineData(GgmlType.Q5_K, 256, 176)]
    [InlineData(GgmlType.Q6_K, 256, 210)]
    [InlineData(GgmlType.Q8_K, 256, 292)]
    [InlineData(GgmlType.IQ4_NL, 32, 18)]
    [InlineData(GgmlType.IQ4_XS, 256, 136)]
    [InlineData(GgmlType.TQ1_0, 256, 54)]
    [InlineData(GgmlType.MXFP4, 32, 17)]
    public void BlockAndTypeSize_MatchGgmlTypeTraits(GgmlType type, int block, int size)
    {
        Assert.True(GgmlTypeInfo.IsSupported(type));
        Assert.Equal(block, GgmlTypeInfo.BlockSize(type));
        Assert.Equal(size, GgmlTypeInfo.TypeSize(type));
    }

    [Theory]
    [InlineData(GgmlType.F32, 4096L * 32000 * 4)]
    [InlineData(GgmlType.F16, 4096L * 32000 * 2)]
    [InlineData(GgmlType.BF16, 4096L * 32000 * 2)]
    [InlineData(GgmlType.Q8_0, 4096L / 32 * 34 * 32000)]
    [InlineData(GgmlType.Q4_0, 4096L / 32 * 18 * 32000)]
    [InlineData(GgmlType.Q4_K, 4096L / 256 * 144 * 32000)]
    [InlineData(GgmlType.Q6_K, 4096L / 256 * 210 * 32000)]
    public void TensorBytes_TokenEmbedding_MatchesBlockArithmetic(GgmlType type, long expected)
    {
        Assert.Equal(expected, GgmlTypeInfo.TensorBytes(type, [4096, 32000]));
    }

    [Fact]
    public void TensorBytes_ThreeDims_MultipliesRows()
    {
        Assert.Equal(256 / 256 * 144 * 3 * 5, GgmlTypeInfo.TensorBytes(GgmlType.Q4_K, [256, 3, 5]));
        Assert.Equal(0, GgmlTypeInfo.TensorBytes(GgmlType.F32, [8, 0]));
    }

    [Fact]
    public void RowBytes_NotAMultipleOfBlock_Throws()
    {
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.RowBytes(GgmlType.Q8_0, 33));
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.RowBytes(GgmlType.Q4_K, 128));
        Assert.Equal(68, GgmlTypeInfo.RowBytes(GgmlType.Q8_0, 64));
    }

    [Fact]
    public void TensorBytes_Overflow_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.TensorBytes(GgmlType.F32, [1L << 40, 1L << 30]));
    }

    [Theory]
    [InlineData(4u)]
    [InlineData(5u)]
    [InlineData(31u)]
    [InlineData(36u)]
    [InlineData(43u)]
    [InlineData(0xFFFFFFFFu)]
    public void IsSupported_RemovedOrUnknownNumbers_False(uint raw)
    {
        Assert.False(GgmlTypeInfo.IsSupported((GgmlType)raw));
        Assert.Throws<NotSupportedException>(() => GgmlTypeInfo.TypeSize((GgmlType)raw));
    }

    [Fact]
    public void Enum_EveryDefinedMember_IsSupported()
    {
        foreach (var t in Enum.GetValues<GgmlType>())
            Assert.True(GgmlTypeInfo.IsSupported(t), t.ToString());
    }
}
