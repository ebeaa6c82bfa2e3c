using System.Diagnostics;
using System.Globalization;
using Serve.Training.Quantization;
using static TorchSharp.torch;

namespace Serve.Training.Bench;

/// <summary>How fast NF4 weights dequantise (QLoRA pays this twice per matrix per step: forward and backward).</summary>
internal static class Nf4Benchmark
{
    public static int Run(string[] args)
    {
        const int rows = 2048, cols = 768;
        var random = new Random(1);
        var values = Enumerable.Range(0, rows * cols).Select(_ => (float)(random.NextDouble() - 0.5) * 0.1f).ToArray();
        foreach (var doubleQuant in new[] { false, true })
        {
            using var weight = Nf4Weight.Quantize(values, rows, cols, doubleQuant);
            using (var warm = weight.Dense()) { }
            var best = double.MaxValue;
            for (var i = 0; i < 10; i++)
            {
                var watch = Stopwatch.StartNew();
                using var dense = weight.Dense();
                best = Math.Min(best, watch.Elapsed.TotalSeconds);
            }
            using var x = randn(1024, cols);
            using var w = weight.Dense();
            var matmul = double.MaxValue;
            for (var i = 0; i < 5; i++)
            {
                var watch = Stopwatch.StartNew();
                using var y = x.matmul(w.t());
                matmul = Math.Min(matmul, watch.Elapsed.TotalSeconds);
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"NF4{(doubleQuant ? "+DQ" : "")} [{rows}x{cols}]: dequantise {best * 1e3:F2} ms ({rows * (double)cols / best / 1e9:F2} G weights/s); a 1024-token matmul with it {matmul * 1e3:F2} ms"));
        }
        return 0;
    }
}
