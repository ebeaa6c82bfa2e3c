using System.CommandLine;
using System.Globalization;
using Serve.Llama;
using Serve.Training.Data;
using Serve.Training.Lora;
using Serve.Training.Model;
using Serve.Training.Training;

namespace Serve.Cli.Commands;

/// <summary><c>serve train</c>: a LoRA or QLoRA adapter for a GGUF base model from a JSONL chat dataset, exported to GGUF.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var d = new TrainingOptions();
        var baseModel = new Option<FileInfo>("--base") { Description = "Base model .gguf (llama architecture)", Required = true };
        baseModel.AcceptExistingOnly();
        var data = new Option<FileInfo>("--data") { Description = "Training data: JSONL of {\"messages\":[...]} or {\"prompt\",\"completion\"}", Required = true };
        data.AcceptExistingOnly();
        var output = new Option<FileInfo>("--out") { Description = "Adapter .gguf to write (checkpoint, metrics and loss curve go next to it)", Required = true };
        var evalData = new Option<FileInfo>("--eval-data") { Description = "Held-out data (JSONL); default: a split of --data" };
        evalData.AcceptExistingOnly();
        var qlora = new Option<bool>("--qlora") { Description = "Hold the frozen base in 4-bit NF4 (QLoRA)" };
        var noDoubleQuant = new Option<bool>("--no-double-quant") { Description = "With --qlora: keep the per-block absmax in float32" };
        var rank = new Option<int>("--rank") { Description = "LoRA rank", DefaultValueFactory = _ => d.Lora.Rank };
        var alpha = new Option<float>("--alpha") { Description = "LoRA alpha (scale alpha/rank)", DefaultValueFactory = _ => d.Lora.Alpha };
        var dropout = new Option<float>("--dropout") { Description = "LoRA dropout", DefaultValueFactory = _ => d.Lora.Dropout };
        var rslora = new Option<bool>("--rslora") { Description = "Rank-stabilised scale alpha/sqrt(rank)" };
        var targets = new Option<string>("--targets") { Description = "Adapted matrices: q,k,v,o,gate,up,down", DefaultValueFactory = _ => string.Join(",", d.Lora.Targets) };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training data", DefaultValueFactory = _ => d.Epochs };
        var maxSteps = new Option<int>("--max-steps") { Description = "Optimizer steps (0 = from --epochs)", DefaultValueFactory = _ => d.MaxSteps };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => d.LearningRate };
        var warmup = new Option<double>("--warmup") { Description = "Warmup as a fraction of the steps", DefaultValueFactory = _ => d.WarmupRatio };
        var minLr = new Option<double>("--min-lr-ratio") { Description = "Cosine ends at this fraction of --lr", DefaultValueFactory = _ => d.MinLearningRateRatio };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW weight decay", DefaultValueFactory = _ => d.WeightDecay };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per micro-batch", DefaultValueFactory = _ => d.BatchSize };
        var accumulation = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => d.GradientAccumulation };
        var clip = new Option<double>("--max-grad-norm") { Description = "Gradient clipping norm (0 = off)", DefaultValueFactory = _ => d.MaxGradNorm };
        var maxLength = new Option<int>("--max-length") { Description = $"Longest sequence in tokens (0 = min({TrainingSession.DefaultMaxLength}, model context))", DefaultValueFactory = _ => d.MaxLength };
        var truncation = new Option<string>("--truncation") { Description = "Longer conversations: right (cut the end), left (keep the end), drop", DefaultValueFactory = _ => "right" };
        truncation.AcceptOnlyFromAmong("right", "left", "drop");
        var evalSplit = new Option<double>("--eval-split") { Description = "Held-out fraction of --data", DefaultValueFactory = _ => d.EvalSplit };
        var evalEvery = new Option<int>("--eval-every") { Description = "Held-out loss every N steps (0 = at the end)", DefaultValueFactory = _ => d.EvalEvery };
        var patience = new Option<int>("--patience") { Description = "Early stop after N evaluations without improvement (0 = off)", DefaultValueFactory = _ => d.EarlyStoppingPatience };
        var trainOnPrompt = new Option<bool>("--train-on-prompt") { Description = "Take the loss on prompt tokens too (default: assistant answers only)" };
        var seed = new Option<int>("--seed") { Description = "Seed (initialisation, order, dropout, split)", DefaultValueFactory = _ => d.Seed };
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:N", DefaultValueFactory = _ => d.Device };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Checkpoint every N steps (0 = at the end)", DefaultValueFactory = _ => d.CheckpointEvery };
        var fresh = new Option<bool>("--fresh") { Description = "Ignore (and replace) an existing checkpoint instead of resuming from it" };
        var logEvery = new Option<int>("--log-every") { Description = "Progress line every N steps", DefaultValueFactory = _ => d.LogEvery };
        var threads = new Option<int>("--threads") { Description = "CPU threads for TorchSharp (0 = all cores)", DefaultValueFactory = _ => 0 };
        var stopAfter = new Option<int>("--stop-after") { Description = "Stop after step N's checkpoint, as a kill would (resume by running again)", Hidden = true };

        var command = new Command("train", "Train a LoRA/QLoRA adapter on chat data and export it to llama.cpp's GGUF adapter format")
        {
            baseModel, data, output, evalData, qlora, noDoubleQuant, rank, alpha, dropout, rslora, targets, epochs, maxSteps, lr, warmup, minLr,
            weightDecay, batch, accumulation, clip, maxLength, truncation, evalSplit, evalEvery, patience, trainOnPrompt, seed, device,
            checkpointEvery, fresh, logEvery, threads, stopAfter,
        };
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var o = parseResult.InvocationConfiguration.Output;
            var options = new TrainingOptions
            {
                Lora = new LoraOptions
                {
                    Rank = parseResult.GetValue(rank), Alpha = parseResult.GetValue(alpha), Dropout = parseResult.GetValue(dropout),
                    RsLora = parseResult.GetValue(rslora), Targets = LoraTarget.Parse(parseResult.GetValue(targets)!),
                },
                Quantization = !parseResult.GetValue(qlora) ? BaseQuantization.None
                    : parseResult.GetValue(noDoubleQuant) ? BaseQuantization.Nf4 : BaseQuantization.Nf4DoubleQuant,
                Epochs = parseResult.GetValue(epochs), MaxSteps = parseResult.GetValue(maxSteps), LearningRate = parseResult.GetValue(lr),
                WarmupRatio = parseResult.GetValue(warmup), MinLearningRateRatio = parseResult.GetValue(minLr), WeightDecay = parseResult.GetValue(weightDecay),
                BatchSize = parseResult.GetValue(batch), GradientAccumulation = parseResult.GetValue(accumulation), MaxGradNorm = parseResult.GetValue(clip),
                MaxLength = parseResult.GetValue(maxLength), Truncation = Enum.Parse<TruncationMode>(parseResult.GetValue(truncation)!, ignoreCase: true),
                EvalSplit = parseResult.GetValue(evalSplit), EvalEvery = parseResult.GetValue(evalEvery), EarlyStoppingPatience = parseResult.GetValue(patience),
                TrainOnPrompt = parseResult.GetValue(trainOnPrompt), Seed = parseResult.GetValue(seed), Device = parseResult.GetValue(device)!,
                CheckpointEvery = parseResult.GetValue(checkpointEvery), LogEvery = parseResult.GetValue(logEvery), StopAfterStep = parseResult.GetValue(stopAfter),
            };
            options.Validate();
            if (parseResult.GetValue(threads) is > 0 and var n) TorchSharp.torch.set_num_threads(n);

            var basePath = parseResult.GetValue(baseModel)!.FullName;
            var dataPath = parseResult.GetValue(data)!.FullName;
            var evalPath = parseResult.GetValue(evalData)?.FullName;
            var outputs = new TrainingOutputs(parseResult.GetValue(output)!.FullName);
            o.WriteLine($"serve train: base {basePath}");
            o.WriteLine($"  data {dataPath}{(evalPath is null ? "" : $", held out {evalPath}")} -> {outputs.AdapterPath}");
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {(options.Quantization == BaseQuantization.None ? "lora" : "qlora (" + options.Quantization + ")")} rank {options.Lora.Rank} alpha {options.Lora.Alpha} dropout {options.Lora.Dropout} rslora {options.Lora.RsLora} targets {string.Join(",", options.Lora.Targets)}"));
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  epochs {options.Epochs} max-steps {options.MaxSteps} lr {options.LearningRate} warmup {options.WarmupRatio} min-lr-ratio {options.MinLearningRateRatio} weight-decay {options.WeightDecay} batch-size {options.BatchSize} grad-accum {options.GradientAccumulation} max-grad-norm {options.MaxGradNorm}"));
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  max-length {(options.MaxLength == 0 ? "auto" : options.MaxLength)} truncation {options.Truncation.ToString().ToLowerInvariant()} eval-split {options.EvalSplit} eval-every {options.EvalEvery} patience {options.EarlyStoppingPatience} train-on-prompt {options.TrainOnPrompt} seed {options.Seed} device {options.Device} threads {TorchSharp.torch.get_num_threads()}"));
            o.WriteLine($"  checkpoint {outputs.CheckpointPath} every {options.CheckpointEvery} steps; metrics {outputs.MetricsPath}; loss curve {outputs.LossCurvePath}");

            TokenizedDataset dataset;
            try
            {
                dataset = TrainingSession.LoadData(basePath, dataPath, evalPath, options, o, out _);
            }
            catch (DatasetException e)
            {
                parseResult.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return CommandErrors.ExitInvalid;
            }
            catch (LlamaException e)
            {
                parseResult.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return CommandErrors.ExitInvalid;
            }

            if (parseResult.GetValue(fresh) && File.Exists(outputs.CheckpointPath)) File.Delete(outputs.CheckpointPath);
            var trainer = new Trainer(basePath, dataset, options, outputs, o)
            {
                BaseModelSha256 = Publishing.AdapterFileRegistry.Sha256(basePath), // the plain file hash the server checks (TrainingSession.Sha256 hashes the hash)
                DatasetSha256 = TrainingSession.Sha256(dataPath, evalPath),
                Resume = true,
                PadToken = 0,
            };
            TrainingResult result;
            try
            {
                result = trainer.Run();
            }
            catch (InvalidOperationException e) when (e.Message.Contains("checkpoint", StringComparison.Ordinal))
            {
                parseResult.InvocationConfiguration.Error.WriteLine($"error: {e.Message} (or pass --fresh)");
                return CommandErrors.ExitInvalid;
            }
            if (result.Interrupted)
            {
                o.WriteLine($"interrupted at step {result.StepsDone}/{result.TotalSteps}; run the same command again to resume");
                return 0;
            }
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outputs.AdapterPath}: {result.StepsDone} steps{(result.StoppedEarly ? " (early stop)" : "")}, train loss {result.FinalTrainLoss:F4}, " +
                $"held-out loss {Format(result.BaseEvalLoss)} (base) -> {Format(result.FinalEvalLoss)}, {result.TokensPerSecond:F0} tok/s, peak memory {CommandErrors.Size(result.PeakWorkingSetBytes)}"));
            return 0;
        }));
        return command;
    }

    private static string Format(double? value) => value is { } v ? v.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
}
