using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Serve.Training.Data;
using Serve.Training.Export;
using Serve.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Training;

/// <summary>
/// Trains LoRA factors on a tokenized dataset: AdamW, warmup + cosine, gradient accumulation and clipping, held-out
/// loss every N steps with early stopping, checkpoints that resume to the same result, a progress line, a JSON
/// metrics log per step and a loss-curve PNG, then exports the adapter to GGUF.
/// </summary>
/// <remarks>
/// Determinism: the example order of epoch e comes from Random(seed + e) and dropout's generator is reseeded from
/// (seed, step) at every step, so step k computes the same thing whether the run was interrupted before it or not.
/// </remarks>
public sealed class Trainer
{
    private static readonly JsonSerializerOptions JsonOptions = new() { Converters = { new JsonStringEnumConverter() } };

    private readonly string _basePath;
    private readonly TokenizedDataset _data;
    private readonly TrainingOptions _options;
    private readonly TrainingOutputs _outputs;
    private readonly TextWriter _log;

    public Trainer(string basePath, TokenizedDataset data, TrainingOptions options, TrainingOutputs outputs, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _basePath = basePath;
        _data = data ?? throw new ArgumentNullException(nameof(data));
        _options = options;
        _outputs = outputs ?? throw new ArgumentNullException(nameof(outputs));
        _log = log ?? TextWriter.Null;
        _packRowLength = data.Train.Concat(data.Eval).Max(e => e.Tokens.Length);
    }

    private readonly int _packRowLength;

    /// <summary>SHA-256 of the base model file (the adapter records it; the server checks it).</summary>
    public string? BaseModelSha256 { get; init; }

    /// <summary>SHA-256 of the dataset file(s).</summary>
    public string? DatasetSha256 { get; init; }

    /// <summary>Continue from the checkpoint when one exists.</summary>
    public bool Resume { get; init; }

    public int PadToken { get; init; }

    /// <summary>
    /// Called after each optimizer step with its metrics, before any checkpoint is written (a benchmark times steps
    /// and measures the machine between them with it).
    /// </summary>
    public Action<StepMetrics>? StepCompleted { get; init; }

    public static string ConfigJson(TrainingOptions options) => JsonSerializer.Serialize(options, JsonOptions);

    public int MicroBatchesPerEpoch => (_data.Train.Count + _options.BatchSize - 1) / _options.BatchSize;

    public int TotalSteps => _options.MaxSteps > 0
        ? _options.MaxSteps
        : Math.Max(1, (_options.Epochs * MicroBatchesPerEpoch + _options.GradientAccumulation - 1) / _options.GradientAccumulation);

    public TrainingResult Run(CancellationToken cancellationToken = default)
    {
        var options = _options;
        var device = torch.device(options.Device);
        using var model = LlamaForCausalLM.Load(_basePath, new LlamaLoadOptions
        {
            Lora = options.Lora, Quantization = options.Quantization, Seed = options.Seed, Device = options.Device,
            MaxPositions = Math.Max(_data.Train.Concat(_data.Eval).Max(e => e.Tokens.Length), 1),
        });
        model.GradientCheckpointing = options.GradientCheckpointing;
        var parameters = model.LoraParameters();
        using var optimizer = new AdamW(parameters, options.Beta1, options.Beta2, options.AdamEpsilon, options.WeightDecay);
        var totalSteps = TotalSteps;
        var warmup = options.WarmupSteps >= 0 ? options.WarmupSteps : (int)Math.Round(totalSteps * options.WarmupRatio);
        var schedule = new LearningRateSchedule(options.LearningRate, Math.Min(warmup, totalSteps), totalSteps, options.MinLearningRateRatio);
        var fingerprint = Fingerprint();

        var history = new List<StepMetrics>();
        double? baseEval = null, bestEval = null, lastEval = null;
        var badEvals = 0;
        var startStep = 0;
        var resumed = false;
        if (Resume && File.Exists(_outputs.CheckpointPath))
        {
            var checkpoint = TrainingCheckpoint.Load(_outputs.CheckpointPath, fingerprint, parameters, optimizer);
            startStep = checkpoint.Step;
            baseEval = checkpoint.BaseEvalLoss;
            bestEval = checkpoint.BestEvalLoss;
            lastEval = checkpoint.LastEvalLoss;
            badEvals = checkpoint.EvalsWithoutImprovement;
            history.AddRange(checkpoint.History);
            resumed = true;
            _log.WriteLine($"resumed from {_outputs.CheckpointPath} at step {startStep}/{totalSteps}");
        }
        RewriteMetrics(history);

        if (!resumed && _data.Eval.Count > 0)
        {
            baseEval = Evaluate(model, device);
            bestEval = baseEval;
            _log.WriteLine($"held-out loss of the base model: {baseEval:F4} ({_data.Eval.Count} examples)");
        }

        var priorElapsed = history.Count > 0 ? history[^1].ElapsedSeconds : 0;
        var watch = Stopwatch.StartNew();
        long sessionTokens = 0;
        var sessionSteps = 0;
        var stoppedEarly = false;
        var interrupted = false;
        var step = startStep;
        var lastLoss = history.Count > 0 ? history[^1].Loss : double.NaN;
        while (step < totalSteps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            model.train();
            // Dropout draws from the global generator: reseeding per step makes a resumed run replay it exactly.
            manual_seed(options.Seed * 1_000_003L + step);
            var micro = Enumerable.Range(0, options.GradientAccumulation).Select(a => MicroBatch(step * options.GradientAccumulation + a)).ToArray();
            var trainedTokens = Math.Max(1, micro.Sum(m => TrainingBatch.CountTrained(m)));
            double lossSum = 0;
            long tokens = 0;
            foreach (var examples in micro)
            {
                using var scope = NewDisposeScope();
                using var batch = MakeBatch(examples, device);
                var logits = batch.Forward(model);
                var loss = batch.LossSum(logits);
                lossSum += loss.item<float>();
                (loss / trainedTokens).backward();
                tokens += batch.Tokens;
            }
            var gradNorm = optimizer.ClipGradNorm(options.MaxGradNorm);
            var lr = schedule.At(step);
            optimizer.Update(lr);
            optimizer.ZeroGrad();
            step++;
            sessionSteps++;
            sessionTokens += tokens;
            lastLoss = lossSum / trainedTokens;

            double? evalLoss = null;
            if (_data.Eval.Count > 0 && ((options.EvalEvery > 0 && step % options.EvalEvery == 0) || step == totalSteps))
            {
                evalLoss = Evaluate(model, device);
                lastEval = evalLoss;
                if (bestEval is null || evalLoss < bestEval - options.EarlyStoppingMinDelta)
                {
                    bestEval = evalLoss;
                    badEvals = 0;
                }
                else
                {
                    badEvals++;
                }
            }

            var elapsed = watch.Elapsed.TotalSeconds;
            var metrics = new StepMetrics
            {
                Step = step,
                Epoch = (double)step * options.GradientAccumulation / MicroBatchesPerEpoch,
                Loss = lastLoss,
                LearningRate = lr,
                GradNorm = gradNorm,
                Tokens = tokens,
                TrainedTokens = trainedTokens,
                TokensPerSecond = sessionTokens / Math.Max(elapsed, 1e-9),
                ElapsedSeconds = priorElapsed + elapsed,
                EvalLoss = evalLoss,
            };
            history.Add(metrics);
            File.AppendAllText(_outputs.MetricsPath, JsonSerializer.Serialize(metrics) + "\n");
            StepCompleted?.Invoke(metrics);

            var earlyStop = options.EarlyStoppingPatience > 0 && badEvals >= options.EarlyStoppingPatience;
            if (options.LogEvery > 0 && (step % options.LogEvery == 0 || step == totalSteps || evalLoss is not null || earlyStop || step == startStep + 1))
                _log.WriteLine(ProgressLine(metrics, totalSteps, elapsed / sessionSteps * (totalSteps - step)));

            var stopNow = options.StopAfterStep > 0 && step >= options.StopAfterStep && step < totalSteps;
            if ((options.CheckpointEvery > 0 && step % options.CheckpointEvery == 0) || stopNow || earlyStop || step == totalSteps)
            {
                TrainingCheckpoint.Save(_outputs.CheckpointPath, new TrainingCheckpoint
                {
                    Step = step, Fingerprint = fingerprint, BaseEvalLoss = baseEval, BestEvalLoss = bestEval,
                    LastEvalLoss = lastEval, EvalsWithoutImprovement = badEvals, History = history,
                }, parameters, optimizer);
            }
            if (earlyStop)
            {
                stoppedEarly = true;
                _log.WriteLine($"early stop: held-out loss did not improve for {badEvals} evaluations (best {bestEval:F4})");
                break;
            }
            if (stopNow)
            {
                interrupted = true;
                _log.WriteLine($"stopped after step {step} (checkpoint written; run again with resume to continue)");
                break;
            }
        }

        if (!interrupted)
        {
            if (stoppedEarly && lastEval is null && _data.Eval.Count > 0) lastEval = Evaluate(model, device);
            GgufAdapterWriter.Write(_outputs.AdapterPath, model.Config.Architecture, options.Lora.Scale, GgufAdapterWriter.Factors(model), new AdapterMetadata
            {
                Name = Path.GetFileNameWithoutExtension(_outputs.AdapterPath),
                BaseModelSha256 = BaseModelSha256,
                DatasetSha256 = DatasetSha256,
                TrainingConfigJson = ConfigJson(options),
                EvalLoss = lastEval,
                BaseEvalLoss = baseEval,
                Steps = step,
            });
            LossCurvePlot.Write(_outputs.LossCurvePath, history, baseEval);
        }

        return new TrainingResult
        {
            StepsDone = step,
            TotalSteps = totalSteps,
            BaseEvalLoss = baseEval,
            FinalEvalLoss = lastEval,
            BestEvalLoss = bestEval,
            FinalTrainLoss = lastLoss,
            StoppedEarly = stoppedEarly,
            Interrupted = interrupted,
            Resumed = resumed,
            TokensPerSecond = sessionTokens / Math.Max(watch.Elapsed.TotalSeconds, 1e-9),
            PeakWorkingSetBytes = Process.GetCurrentProcess().PeakWorkingSet64,
            History = history,
        };
    }

    /// <summary>Token-weighted mean loss over the held-out examples, dropout off.</summary>
    public double Evaluate(LlamaForCausalLM model, Device device)
    {
        model.eval();
        using var noGrad = no_grad();
        double sum = 0;
        long count = 0;
        for (var i = 0; i < _data.Eval.Count; i += _options.BatchSize)
        {
            using var scope = NewDisposeScope();
            var examples = _data.Eval.Skip(i).Take(_options.BatchSize).ToArray();
            using var batch = MakeBatch(examples, device);
            sum += batch.LossSum(batch.Forward(model)).item<float>();
            count += batch.TrainedTokens;
        }
        model.train();
        return sum / Math.Max(count, 1);
    }

    /// <summary>The examples of global micro-batch m: epoch m / perEpoch, in that epoch's seeded order.</summary>
    /// <summary>A micro-batch padded row by row, or with <see cref="TrainingOptions.Packing"/> packed into rows as long as the longest example.</summary>
    private TrainingBatch MakeBatch(IReadOnlyList<TokenizedExample> examples, Device device) => _options.Packing
        ? TrainingBatch.CreatePacked(examples, _packRowLength, PadToken, device)
        : TrainingBatch.Create(examples, PadToken, device);

    private TokenizedExample[] MicroBatch(int m)
    {
        var perEpoch = MicroBatchesPerEpoch;
        var epoch = m / perEpoch;
        var index = m % perEpoch;
        var order = Enumerable.Range(0, _data.Train.Count).ToArray();
        new Random(_options.Seed + epoch).Shuffle(order);
        return [.. order.Skip(index * _options.BatchSize).Take(_options.BatchSize).Select(i => _data.Train[i])];
    }

    private string Fingerprint()
    {
        var text = $"{ConfigJson(_options)}|{BaseModelSha256}|{DatasetSha256}|{_data.Train.Count}|{_data.Eval.Count}|" +
                   string.Join(",", _data.Train.Select(e => e.Tokens.Length));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    private void RewriteMetrics(IReadOnlyList<StepMetrics> history)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(_outputs.MetricsPath));
        if (directory is not null) Directory.CreateDirectory(directory);
        File.WriteAllLines(_outputs.MetricsPath, history.Select(h => JsonSerializer.Serialize(h)));
    }

    private static string ProgressLine(StepMetrics m, int total, double etaSeconds)
    {
        const int width = 24;
        var filled = (int)Math.Round(width * (double)m.Step / total);
        var bar = new string('#', filled) + new string('.', width - filled);
        var eta = TimeSpan.FromSeconds(Math.Max(0, etaSeconds));
        var eval = m.EvalLoss is { } e ? $" eval {e:F4}" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"step {m.Step}/{total} [{bar}] {100.0 * m.Step / total:F0}% loss {m.Loss:F4}{eval} lr {m.LearningRate:E2} |g| {m.GradNorm:F3} {m.TokensPerSecond:F0} tok/s eta {eta:hh\\:mm\\:ss}");
    }
}
