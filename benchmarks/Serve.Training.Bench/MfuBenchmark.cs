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
        // The ceiling is the best matmul rate seen at several shapes (1024^3 is not always the fastest one).
        var shapes = new (int M, int K, int N)[]
        {
            (1024, 1024, 1024), (2048, 2048, 2048), (BatchSize * SequenceLength, Spec.EmbeddingLength, Spec.FeedForwardLength),
            (BatchSize * SequenceLength, Spec.FeedForwardLength, Spec.EmbeddingLength),
        };
        var rates = shapes.Select(s => MeasureMatmul(s.M, s.K, s.N, runs: 10)).ToArray();
        Console.WriteLine("fp32 matmul before training: " + string.Join(", ", shapes.Zip(rates, (s, r) =>
            string.Create(CultureInfo.InvariantCulture, $"{r / 1e9:F1} GFLOP/s at [{s.M}x{s.K}]x[{s.K}x{s.N}]"))));

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

        // The machine is shared: a ceiling measured once, before training, compares two different moments (a busy
        // neighbour during the 30 ms probe and an idle one during the minute of training printed 122-130% "MFU").
        // So the matmul probe also runs between steps, and each step is compared with the probe next to it.
        var clock = Stopwatch.StartNew();
        var resumed = 0.0;
        var stepSeconds = new List<double>();
        var stepTokens = new List<long>();
        var probes = new List<double>();
        var cpu = new List<double>();
        var cpuAtResume = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        var trainer = new Trainer(basePath, data, options, outputs, Console.Out)
        {
            StepCompleted = m =>
            {
                var seconds = clock.Elapsed.TotalSeconds - resumed;
                stepSeconds.Add(seconds);
                stepTokens.Add(m.Tokens);
                cpu.Add((Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - cpuAtResume) / seconds);
                probes.Add(MeasureMatmul(1024, 1024, 1024, runs: 3));
                resumed = clock.Elapsed.TotalSeconds;
                cpuAtResume = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
            },
        };
        trainer.Run();
        var after = shapes.Select(s => MeasureMatmul(s.M, s.K, s.N, runs: 10)).ToArray();
        var ceiling = rates.Concat(after).Concat(probes).Max();

        // The first steps include one-time costs (model load, allocator growth, kernel selection): measure the rest.
        var skip = Math.Min(3, stepSeconds.Count - 1);
        var flopsPerToken = FlopsPerToken(lora.Rank, SequenceLength);
        var perStep = Enumerable.Range(skip, stepSeconds.Count - skip)
            .Select(i => (Achieved: flopsPerToken * stepTokens[i] / stepSeconds[i], Probe: probes[i], Cpu: cpu[i])).ToArray();
        var tokens = stepTokens.Skip(skip).Sum();
        var seconds = stepSeconds.Skip(skip).Sum();
        var tokensPerSecond = tokens / seconds;
        var achieved = flopsPerToken * tokensPerSecond;
        static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToArray();
            return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        }

        Console.WriteLine("fp32 matmul after training:  " + string.Join(", ", shapes.Zip(after, (s, r) =>
            string.Create(CultureInfo.InvariantCulture, $"{r / 1e9:F1} GFLOP/s at [{s.M}x{s.K}]x[{s.K}x{s.N}]"))));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"1024^3 probes between steps: {probes.Skip(skip).Min() / 1e9:F1}-{probes.Skip(skip).Max() / 1e9:F1} GFLOP/s (median {Median(probes.Skip(skip)) / 1e9:F1}); ceiling (best seen in this run): {ceiling / 1e9:F1} GFLOP/s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model: {Spec.ParameterCount:N0} parameters ({Spec.EmbeddingLength}d, {Spec.BlockCount} layers, ff {Spec.FeedForwardLength}, vocab {Spec.VocabSize}), LoRA r{lora.Rank} on all 7 targets, batch {BatchSize}x{SequenceLength}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"training: {tokensPerSecond:F0} tokens/s (steps {skip + 1}-{stepSeconds.Count}, probes excluded), {flopsPerToken / 1e6:F1} MFLOP/token -> {achieved / 1e9:F1} GFLOP/s; CPU use {Median(perStep.Select(p => p.Cpu)):F2} cores (median of steps)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"MFU: {Median(perStep.Select(p => p.Achieved / p.Probe)):P1} (median of steps, each against the 1024^3 probe right after it), {achieved / ceiling:P1} of the best rate seen in the run (target >= 30%)"));
        // A step that got less than ~all of the torch threads' cores shared the machine; its probe may not have.
        var threads = get_num_threads();
        var whole = perStep.Where(p => p.Cpu >= 0.9 * threads).ToArray();
        Console.WriteLine(whole.Length == 0
            ? $"MFU on uncontended steps: none of the {perStep.Length} steps had {0.9 * threads:F1} of {threads} cores to itself; run again when the machine is quieter"
            : string.Create(CultureInfo.InvariantCulture,
                $"MFU on uncontended steps (>= {0.9 * threads:F1} of {threads} cores busy, {whole.Length} of {perStep.Length}): {Median(whole.Select(p => p.Achieved / p.Probe)):P1} median against the adjacent probe, {Median(whole.Select(p => p.Achieved)) / ceiling:P1} against the best rate seen"));
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

    /// <summary>Best of <paramref name="runs"/> runs of an [m,k]x[k,n] fp32 matmul, in FLOP/s.</summary>
    private static double MeasureMatmul(int m, int k, int n, int runs)
    {
        using var a = randn(m, k);
        using var b = randn(k, n);
        using (var warm = a.matmul(b)) { }
        var best = double.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            using var c = a.matmul(b);
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return 2.0 * m * k * n / best;
    }
}
