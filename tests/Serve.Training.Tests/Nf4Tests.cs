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
}
