using System.Diagnostics;
using System.Globalization;
using Serve.Models;
using Serve.Training.Lora;
using Serve.Training.Model;
using Serve.Training.Training;

namespace Serve.Training.Bench;

/// <summary>
/// Trains the same model on the same batches with LoRA (fp32 base) and QLoRA (NF4 + double-quantised absmax), each
/// in its own process so the peaks do not mix, and prints peak resident memory and final held-out loss of both.
/// </summary>
internal static class QloraBenchmark
{
    // The QLoRA case: a ~141 M-parameter base (564 MiB in fp32) trained on short batches, so the frozen base, not the
    // activations, is what memory holds. This is what QLoRA is for; both modes train the same model on the same batches.
    private static readonly LlamaModelSpec Large = new()
    {
        EmbeddingLength = 1024, BlockCount = 12, HeadCount = 16, HeadCountKv = 4, FeedForwardLength = 2816, VocabSize = 3072,
        ContextLength = 256, InitStd = 0.03f, Seed = 23, Name = "bench-qlora-large",
    };

    // ~41 M parameters on batch 4 x 96: the activations are most of the peak, so QLoRA saves less here.
    private static readonly LlamaModelSpec Small = new()
    {
        EmbeddingLength = 768, BlockCount = 6, HeadCount = 12, HeadCountKv = 4, FeedForwardLength = 2048, VocabSize = 2048,
        ContextLength = 256, InitStd = 0.04f, Seed = 21, Name = "bench-qlora",
    };

    private sealed record Shape(LlamaModelSpec Spec, int BatchSize, int MaxLength, int EvalExamples);

    private static Shape ShapeNamed(string name) => name switch
    {
        "large" => new Shape(Large, BatchSize: 1, MaxLength: 96, EvalExamples: 12),
        "small" => new Shape(Small, BatchSize: 4, MaxLength: 96, EvalExamples: 29),
        _ => throw new ArgumentException($"unknown shape '{name}' (large or small)"),
    };

    public static int Run(string[] args)
    {
        var steps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 30;
        var shapeName = args.Length > 1 ? args[1] : "large";
        var shape = ShapeNamed(shapeName);
        // "checkpointed": both modes recompute activations in backward (gradient checkpointing, as QLoRA runs do).
        var checkpointed = args.Length > 2 && args[2] == "checkpointed" ? "checkpointed" : "plain";
        var spec = shape.Spec;
        var basePath = BenchModels.Build(spec);
        Console.WriteLine($"base: {basePath} ({spec.ParameterCount:N0} parameters, fp32 {new FileInfo(basePath).Length / 1048576.0:F0} MiB); {steps} steps, batch {shape.BatchSize} x <= {shape.MaxLength} tokens, continuation of the project corpus, {shape.EvalExamples} held-out examples, {(checkpointed == "checkpointed" ? "gradient checkpointing in both modes" : "no gradient checkpointing")}");
        var results = new Dictionary<string, string[]>();
        foreach (var mode in new[] { "lora", "qlora" })
        {
            var self = Environment.ProcessPath!;
            var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(QloraBenchmark).Assembly.Location);
            foreach (var a in new[] { "qlora-child", mode, shapeName, basePath, steps.ToString(CultureInfo.InvariantCulture), checkpointed }) start.ArgumentList.Add(a);
            using var child = Process.Start(start)!;
            string? result = null;
            while (child.StandardOutput.ReadLine() is { } line)
            {
                if (line.StartsWith("RESULT ", StringComparison.Ordinal)) result = line[7..];
                else Console.WriteLine($"  [{mode}] {line}");
            }
            child.WaitForExit();
            if (child.ExitCode != 0 || result is null) throw new InvalidOperationException($"{mode} run failed with exit code {child.ExitCode}");
            results[mode] = result.Split(' ');
        }

        double Value(string mode, int i) => double.Parse(results[mode][i], CultureInfo.InvariantCulture);
        const double MiB = 1048576.0;
        Console.WriteLine();
        Console.WriteLine($"{"",-8} {"base bytes",12} {"idle RSS",10} {"peak RSS",10} {"peak-idle",10} {"train-idle",10} {"eval loss",10} {"base loss",10} {"tok/s",8}");
        foreach (var mode in results.Keys)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{mode,-8} {Value(mode, 0) / MiB,10:F1}Mi {(Value(mode, 1) - Value(mode, 2)) / MiB,8:F1}Mi {Value(mode, 1) / MiB,8:F1}Mi {Value(mode, 2) / MiB,8:F1}Mi {Value(mode, 6) / MiB,8:F1}Mi {Value(mode, 3),10:F4} {Value(mode, 4),10:F4} {Value(mode, 5),8:F0}"));
        Console.WriteLine("(peak-idle: whole run above the idle runtime; train-idle: up to the final eval, before the outputs are written)");
        var peakRatio = Value("qlora", 1) / Value("lora", 1);
        var aboveIdleRatio = Value("qlora", 2) / Value("lora", 2);
        var trainingRatio = Value("qlora", 6) / Value("lora", 6);
        var lossGap = Math.Abs(Value("qlora", 3) - Value("lora", 3)) / Value("lora", 3);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"QLoRA/LoRA peak memory: {trainingRatio:F2}x in training above the idle runtime (target <= 0.4), {aboveIdleRatio:F2}x for the whole run above idle, {peakRatio:F2}x of the whole process; eval loss {Value("qlora", 3) / Value("lora", 3):F3}x, differs by {lossGap:P1} (target <= 10%)"));
        return 0;
    }

    /// <summary>One training run; prints "RESULT baseBytes peakRss peakAboveIdle evalLoss baseLoss tokPerSec trainingPeakAboveIdle".</summary>
    public static int Child(string[] args)
    {
        var mode = args[0];
        var shape = ShapeNamed(args[1]);
        var basePath = args[2];
        var steps = int.Parse(args[3], CultureInfo.InvariantCulture);
        var checkpointing = args.Length > 4 && args[4] == "checkpointed";
        var all = BenchModels.CorpusData(basePath, shape.MaxLength);
        var data = all with { Eval = [.. all.Eval.Take(shape.EvalExamples)] };
        // Idle: data tokenized, TorchSharp loaded and one op run, no model yet.
        using (var warm = TorchSharp.torch.ones(8, 8)) warm.matmul(warm).Dispose();
        GC.Collect();
        var idle = ProcessMemory.ResidentBytes;
        ProcessMemory.ResetPeak();

        var options = new TrainingOptions
        {
            Lora = new LoraOptions { Rank = 16, Alpha = 32, Dropout = 0 },
            Quantization = mode == "qlora" ? BaseQuantization.Nf4DoubleQuant : BaseQuantization.None,
            GradientCheckpointing = checkpointing,
            MaxSteps = steps, BatchSize = shape.BatchSize, LearningRate = 1e-3, EvalEvery = 0, CheckpointEvery = 0, LogEvery = 10, Seed = 5,
        };
        var outputs = new TrainingOutputs(Path.Combine(BenchModels.Directory, $"{mode}.gguf"));
        var afterStep = new List<long>();
        long trainingPeak = 0;
        var result = new Trainer(basePath, data, options, outputs, Console.Out)
        {
            // The last call comes after the final eval: its peak covers load, base eval, every step and that eval,
            // but not the writing of the outputs (GGUF, PEFT files, the loss chart), which costs both modes alike.
            StepCompleted = _ =>
            {
                afterStep.Add(ProcessMemory.ResidentBytes);
                trainingPeak = ProcessMemory.PeakResidentBytes;
            },
        }.Run();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RSS above idle after step 1: {(afterStep[0] - idle) / 1048576.0:F0} MiB, after the last step: {(afterStep[^1] - idle) / 1048576.0:F0} MiB, peak so far: {(ProcessMemory.PeakResidentBytes - idle) / 1048576.0:F0} MiB"));
        var peak = ProcessMemory.PeakResidentBytes; // load, base eval, training and final eval
        long baseBytes;
        using (var model = LlamaForCausalLM.Load(basePath, new LlamaLoadOptions { Lora = options.Lora, Quantization = options.Quantization }))
            baseBytes = model.BaseStorageBytes;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT {baseBytes} {peak} {peak - idle} {result.FinalEvalLoss} {result.BaseEvalLoss} {result.TokensPerSecond:F1} {trainingPeak - idle}"));
        return 0;
    }
}
