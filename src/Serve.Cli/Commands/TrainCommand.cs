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
        var training = new TrainingOptionSet();
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Checkpoint every N steps (0 = at the end)", DefaultValueFactory = _ => d.CheckpointEvery };
        var fresh = new Option<bool>("--fresh") { Description = "Ignore (and replace) an existing checkpoint instead of resuming from it" };
        var stopAfter = new Option<int>("--stop-after") { Description = "Stop after step N's checkpoint, as a kill would (resume by running again)", Hidden = true };

        var command = new Command("train", "Train a LoRA/QLoRA adapter on chat data and export it to llama.cpp's GGUF adapter format")
        {
            baseModel, data, output, evalData,
        };
        foreach (var option in training.All) command.Options.Add(option);
        foreach (var option in new Option[] { checkpointEvery, fresh, stopAfter }) command.Options.Add(option);
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var o = parseResult.InvocationConfiguration.Output;
            // The shared training options, plus what only a resumable standalone run has: checkpoints and the stop hook.
            var options = training.Read(parseResult) with
            {
                CheckpointEvery = parseResult.GetValue(checkpointEvery), StopAfterStep = parseResult.GetValue(stopAfter),
            };
            options.Validate();
            if (parseResult.GetValue(training.Threads) is > 0 and var n) TorchSharp.torch.set_num_threads(n);

            var basePath = parseResult.GetValue(baseModel)!.FullName;
            var dataPath = parseResult.GetValue(data)!.FullName;
            var evalPath = parseResult.GetValue(evalData)?.FullName;
            var outputs = new TrainingOutputs(parseResult.GetValue(output)!.FullName);
            o.WriteLine($"serve train: base {basePath}");
            o.WriteLine($"  data {dataPath}{(evalPath is null ? "" : $", held out {evalPath}")} -> {outputs.AdapterPath}");
            foreach (var line in TrainingOptionSet.Describe(options)) o.WriteLine("  " + line);
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
                BaseModelSha256 = TrainingSession.Sha256(basePath),
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
