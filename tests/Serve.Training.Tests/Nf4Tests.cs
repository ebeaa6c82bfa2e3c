using Serve.Training.Quantization;
using static TorchSharp.torch;

namespace Serve.Training.Tests;

public sealed class Nf4Tests
{
    private static readonly float MaxGap = Nf4Weight.Levels.Zip(Nf4Weight.Levels.Skip(1), (a, b) => b - a).Max();

    private static float[] Normal(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()) * 0.05))];
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Quantize_NormalWeights_ErrorWithinHalfLevelGapAndAbout4Bits(bool doubleQuant)
    {
        const int rows = 96, cols = 200; // 19200 values: not a multiple of 256 blocks, the tail block is partial
        var values = Normal(rows * cols, 1);
        using var weight = Nf4Weight.Quantize(values, rows, cols, doubleQuant);
        using var dense = weight.Dense();
        Assert.Equal([rows, cols], dense.shape);
        var restored = dense.data<float>().ToArray();

        for (var b = 0; b < values.Length; b += Nf4Weight.BlockSize)
        {
            var block = values.AsSpan(b, Math.Min(Nf4Weight.BlockSize, values.Length - b));
            var absmax = 0f;
            foreach (var v in block) absmax = Math.Max(absmax, Math.Abs(v));
            for (var i = 0; i < block.Length; i++)
            {
                // Nearest-level rounding: the error is at most half the widest gap between levels times absmax
                // (plus the absmax's own 8-bit error with double quantisation).
                var bound = absmax * 0.5f * MaxGap + (doubleQuant ? 0.01f * absmax : 1e-6f);
                Assert.True(Math.Abs(restored[b + i] - block[i]) <= bound, $"value {b + i}: {block[i]} -> {restored[b + i]}");
            }
        }
        var bitsPerWeight = weight.StorageBytes * 8.0 / values.Length;
        Assert.InRange(bitsPerWeight, 4.0, doubleQuant ? 4.2 : 4.6);
    }

    [Fact]
    public void Quantize_ExactLevels_RoundTripExactly()
    {
        var values = Enumerable.Range(0, 64).Select(i => Nf4Weight.Levels[i % 16] * 2f).ToArray();
        using var weight = Nf4Weight.Quantize(values, 4, 16, doubleQuant: false);
        using var dense = weight.Dense();
        Assert.Equal(values, dense.data<float>().ToArray());
    }

    [Fact]
    public void Project_Quantized_ForwardAndInputGradientEqualDenseMatmulOfDequantizedWeight()
    {
        var values = Normal(48 * 64, 2);
        using var nf4 = Nf4Weight.Quantize(values, 48, 64, doubleQuant: true);
        using var dequantized = nf4.Dense();
        using var x1 = randn([3, 5, 64], generator: new Generator(1)).requires_grad_(true);
        using var x2 = x1.detach().clone().requires_grad_(true);

        using var y1 = nf4.Project(x1);
        using var y2 = x2.matmul(dequantized.t());
        Assert.True(y1.allclose(y2, rtol: 1e-5, atol: 1e-6));
        using var upstream = randn(y1.shape, generator: new Generator(2));
        (y1 * upstream).sum().backward();
        (y2 * upstream).sum().backward();
        Assert.True(x1.grad!.allclose(x2.grad!, rtol: 1e-5, atol: 1e-6));
    }

    [Theory]
    [InlineData(96, 200, false)]
    [InlineData(96, 200, true)]
    [InlineData(37, 199, true)] // odd row length: rows start mid-byte and mid-block; partial tail block and absmax group
    [InlineData(600, 64, true)]  // 600 blocks: more than two absmax groups
    public void Dense_CpuDequantisation_EqualsTensorOpReferenceBitForBit(int rows, int cols, bool doubleQuant)
    {
        var values = Normal(rows * cols, 3);
        using var weight = Nf4Weight.Quantize(values, rows, cols, doubleQuant);
        using var reference = weight.DenseReference();
        using var dense = weight.Dense();
        Assert.Equal(reference.data<float>().ToArray(), dense.data<float>().ToArray());
    }

    [Theory]
    [InlineData(64)]
    [InlineData(199)]
    public void Rows_EqualTheReferenceRows(int cols)
    {
        const int rows = 41;
        using var weight = Nf4Weight.Quantize(Normal(rows * cols, 4), rows, cols, doubleQuant: true);
        using var reference = weight.DenseReference();
        using var ids = tensor(new long[] { 0, 40, 7, 7, 13, 1 });
        using var expected = reference.index_select(0, ids);
        using var actual = weight.Rows(ids);
        Assert.Equal([6L, cols], actual.shape);
        Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
    }

    [Fact]
    public void Quantize_InChunks_SameWeightAsFromOneSpan()
    {
        const int rows = 700, cols = 130; // 91000 values: more than one 65536-value chunk, the last one partial
        var values = Normal(rows * cols, 5);
        using var whole = Nf4Weight.Quantize(values, rows, cols, doubleQuant: true);
        var calls = 0;
        using var chunked = Nf4Weight.Quantize(rows, cols, doubleQuant: true, (start, chunk) =>
        {
            calls++;
            values.AsSpan((int)start, chunk.Length).CopyTo(chunk);
        });
        Assert.True(calls > 1);
        Assert.Equal(whole.StorageBytes, chunked.StorageBytes);
        using var a = whole.Dense();
        using var b = chunked.Dense();
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());
    }

    [Fact]
    public void Project_ThroughSharedBuffer_TwoWeightsForwardAndBackwardLikeTheirDenseMatmuls()
    {
        // Both weights dequantise into one buffer; backward runs after both forwards, so each must dequantise again.
        using var buffer = new DequantizationBuffer(CPU);
        using var first = Nf4Weight.Quantize(Normal(80 * 64, 6), 80, 64, doubleQuant: true, buffer: buffer);
        using var second = Nf4Weight.Quantize(Normal(64 * 80, 7), 64, 80, doubleQuant: false, buffer: buffer);
        using var w1 = first.DenseReference();
        using var w2 = second.DenseReference();
        using var x1 = randn([2, 9, 64], generator: new Generator(3)).requires_grad_(true);
        using var x2 = x1.detach().clone().requires_grad_(true);

        using var y1 = second.Project(first.Project(x1));
        using var y2 = x2.matmul(w1.t()).matmul(w2.t());
        Assert.Equal(80 * 64, buffer.Capacity);
        Assert.True(y1.allclose(y2, rtol: 1e-5, atol: 1e-6));
        using var upstream = randn(y1.shape, generator: new Generator(4));
        (y1 * upstream).sum().backward();
        (y2 * upstream).sum().backward();
        Assert.True(x1.grad!.allclose(x2.grad!, rtol: 1e-5, atol: 1e-6));
    }
}
