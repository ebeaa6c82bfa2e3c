using System.Diagnostics;
using System.Globalization;
using Serve.Models;
using Serve.Training.Data;
using Serve.Training.Lora;
using Serve.Training.Training;
using static TorchSharp.torch;

namespace Serve.Training.Bench;

/// <summary>
/// Training throughput and model-FLOPs utilisation: measured fp32 matmul FLOP/s of this machine (the ceiling), then
/// LoRA training of a small model on full-length sequences, with the FLOPs the step really needs counted per token.
/// </summary>
internal static class MfuBenchmark
{
    private static readonly LlamaModelSpec Spec = new()
    {
        EmbeddingLength = 512, BlockCount = 4, HeadCount = 8, HeadCountKv = 4, FeedForwardLength = 1408, VocabSize = 2048,
        ContextLength = 512, InitStd = 0.04f, Seed = 31, Name = "bench-mfu",
    };

    private const int SequenceLength = 256;
    private const int BatchSize = 4;

    public static int Run(string[] args)
    {
        var steps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        Console.WriteLine($"torch threads: {get_num_threads()}");
        var peak = MeasureMatmul(1024);
        var atModel = MeasureMatmul(BatchSize * SequenceLength, Spec.EmbeddingLength, Spec.FeedForwardLength);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fp32 matmul: {peak / 1e9:F1} GFLOP/s at 1024^3, {atModel / 1e9:F1} GFLOP/s at [{BatchSize * SequenceLength}x{Spec.EmbeddingLength}]x[{Spec.EmbeddingLength}x{Spec.FeedForwardLength}]"));

        var basePath = BenchModels.Build(Spec);
        var lora = new LoraOptions { Rank = 16, Alpha = 32, Dropout = 0 };
        var random = new Random(3);
        var examples = Enumerable.Range(0, 64).Select(i =>
            new TokenizedExample(i + 1, [1, .. Enumerable.Range(0, SequenceLength - 1).Select(_ => random.Next(3, Spec.VocabSize))],
                [false, .. Enumerable.Repeat(true, SequenceLength - 1)])).ToArray();
        var data = new TokenizedDataset(examples, [], [], []);
        var options = new TrainingOptions
        {
            Lora = lora, MaxSteps = steps, BatchSize = BatchSize, EvalSplit = 0, EvalEvery = 0, CheckpointEvery = 0, LogEvery = 5, LearningRate = 1e-3,
        };
        var outputs = new TrainingOutputs(Path.Combine(BenchModels.Directory, "mfu.gguf"));
        var result = new Trainer(basePath, data, options, outputs, Console.Out).Run();
        // The first steps include one-time costs (allocator growth, kernel selection): measure the rest.
        var steady = result.History.Skip(Math.Min(3, result.History.Count - 1)).ToArray();
        var seconds = steady[^1].ElapsedSeconds - result.History[result.History.Count - steady.Length - 1].ElapsedSeconds;
        var tokens = steady.Sum(m => m.Tokens);
        var tokensPerSecond = tokens / seconds;

        var flopsPerToken = FlopsPerToken(lora.Rank, SequenceLength);
        var achieved = flopsPerToken * tokensPerSecond;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model: {Spec.ParameterCount:N0} parameters ({Spec.EmbeddingLength}d, {Spec.BlockCount} layers, ff {Spec.FeedForwardLength}, vocab {Spec.VocabSize}), LoRA r{lora.Rank} on all 7 targets, batch {BatchSize}x{SequenceLength}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"training: {tokensPerSecond:F0} tokens/s (steps 4-{steps}), {flopsPerToken / 1e6:F1} MFLOP/token -> {achieved / 1e9:F1} GFLOP/s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"MFU: {achieved / peak:P1} of the 1024^3 matmul rate, {achieved / atModel:P1} of the model-shaped matmul rate (target >= 30%)"));
        return 0;
    }

    /// <summary>
    /// FLOPs one trained token needs: forward 2·P over the matrices (output head included); backward 2·P for input
    /// gradients only (the base is frozen: no weight gradients) except layer 0's q/k/v, whose input needs none;
    /// LoRA 6·r·(in+out) per adapted matrix; causal attention 2·T·d forward and twice that backward per layer.
    /// </summary>
    private static double FlopsPerToken(int rank, int sequence)
    {
        double e = Spec.EmbeddingLength, kv = Spec.KvLength, f = Spec.FeedForwardLength, v = Spec.VocabSize, l = Spec.BlockCount;
        var perLayer = 2 * e * e + 2 * e * kv + 3 * e * f;
        var matrices = l * perLayer + v * e;
        var forward = 2 * matrices;
        var backward = 2 * matrices - 2 * (e * e + 2 * e * kv);
        var loraPerLayer = (e + e) + (e + kv) * 2 + (e + e) + (e + f) * 2 + (f + e);
        var loraFlops = 6 * rank * loraPerLayer * l;
        var attention = l * (2 * sequence * e) * 3;
        return forward + backward + loraFlops + attention;
    }

    private static double MeasureMatmul(int n) => MeasureMatmul(n, n, n);

    /// <summary>Best of several runs of an [m,k]x[k,n] fp32 matmul, in FLOP/s.</summary>
    private static double MeasureMatmul(int m, int k, int n)
    {
        using var a = randn(m, k);
        using var b = randn(k, n);
        using (var warm = a.matmul(b)) { }
        var best = double.MaxValue;
        for (var i = 0; i < 10; i++)
        {
            var watch = Stopwatch.StartNew();
            using var c = a.matmul(b);
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return 2.0 * m * k * n / best;
    }
}
