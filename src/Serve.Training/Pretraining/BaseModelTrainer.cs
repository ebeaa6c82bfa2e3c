using System.Diagnostics;
using System.Globalization;
using Serve.Gguf;
using Serve.Training.Data;
using Serve.Training.Model;
using Serve.Training.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Pretraining;

/// <summary>
/// Full-parameter training of a small base model: every matrix, embedding and norm of a (seeded random) llama GGUF
/// is trained on tokenized examples, then written back as a GGUF that keeps the source's metadata (tokenizer, chat
/// template, hyperparameters) and tensor layout, so llama.cpp loads it like the file it started from. This is how
/// the project makes its own default model; adapters are trained with <see cref="Trainer"/> on top of it.
/// </summary>
public sealed class BaseModelTrainer
{
    private readonly string _initialModel;
    private readonly IReadOnlyList<TokenizedExample> _train;
    private readonly IReadOnlyList<TokenizedExample> _eval;
    private readonly BaseTrainingOptions _options;
    private readonly TextWriter _log;

    public BaseModelTrainer(string initialModel, IReadOnlyList<TokenizedExample> train, IReadOnlyList<TokenizedExample> eval, BaseTrainingOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (train is null || train.Count == 0) throw new ArgumentException("no training examples", nameof(train));
        _initialModel = initialModel;
        _train = train;
        _eval = eval ?? [];
        _options = options;
        _log = log ?? TextWriter.Null;
    }

    public int PadToken { get; init; }

    /// <summary>Trains and writes the model to <paramref name="outputPath"/> (written to a temp file, then moved into place).</summary>
    public BaseTrainingResult Run(string outputPath, GgmlType storeMatricesAs = GgmlType.F16, IReadOnlyDictionary<string, string>? extraMetadata = null, CancellationToken cancellationToken = default)
    {
        var options = _options;
        if (options.Threads > 0) set_num_threads(options.Threads);
        manual_seed(options.Seed);
        var device = torch.device(options.Device);
        using var model = LlamaForCausalLM.Load(_initialModel, new LlamaLoadOptions
        {
            Device = options.Device, Seed = options.Seed,
            MaxPositions = _train.Concat(_eval).Max(e => e.Tokens.Length),
        });
        var weights = model.BaseTensors();
        foreach (var (_, w) in weights) w.requires_grad_(true);
        var parameters = weights.Select(w => w.Weight).ToArray();
        var batches = Batches(_train, options.BatchTokens);
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"base training: {parameters.Sum(p => p.NumberOfElements):N0} parameters, {_train.Count} train / {_eval.Count} held-out examples, " +
            $"{options.Steps} steps of up to {options.BatchTokens} tokens ({batches.Count} batches an epoch, {options.Steps / (double)batches.Count:F1} epochs), lr {options.LearningRate:G3} (warmup {options.WarmupSteps}, cosine to {options.MinLearningRateRatio:G2}x), seed {options.Seed}"));

        using var optimizer = new AdamW(parameters, 0.9, 0.95, 1e-8, options.WeightDecay);
        var schedule = new LearningRateSchedule(options.LearningRate, Math.Min(options.WarmupSteps, options.Steps), options.Steps, options.MinLearningRateRatio);
        var random = new Random(options.Seed);
        var order = new List<int>();
        var initialEval = _eval.Count > 0 ? Evaluate(model, device) : (double?)null;
        if (initialEval is { } e0) _log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"held-out loss before training: {e0:F4}"));

        var watch = Stopwatch.StartNew();
        double? lastEval = initialEval;
        double loss = double.NaN;
        long tokens = 0;
        var history = new List<(int Step, double Loss, double? Eval)>();
        for (var step = 0; step < options.Steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            model.train();
            // Each epoch visits every length-bucketed batch once, in a seeded order.
            if (order.Count == 0)
            {
                order.AddRange(Enumerable.Range(0, batches.Count));
                random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(order));
            }
            var examples = batches[order[^1]];
            order.RemoveAt(order.Count - 1);
            using (var scope = NewDisposeScope())
            {
                using var batch = TrainingBatch.Create(examples, PadToken, device);
                var sum = batch.LossSum(model.forward(batch.Inputs));
                var mean = sum / Math.Max(1, batch.TrainedTokens);
                mean.backward();
                loss = mean.item<float>();
                tokens += batch.Tokens;
            }
            optimizer.ClipGradNorm(options.MaxGradNorm);
            optimizer.Update(schedule.At(step));
            optimizer.ZeroGrad();

            var done = step + 1;
            double? eval = null;
            if (_eval.Count > 0 && (done % options.EvalEvery == 0 || done == options.Steps))
            {
                eval = Evaluate(model, device);
                lastEval = eval;
            }
            history.Add((done, loss, eval));
            if (done % options.LogEvery == 0 || done == options.Steps || done == 1 || eval is not null)
            {
                var elapsed = watch.Elapsed.TotalSeconds;
                var eta = TimeSpan.FromSeconds(elapsed / done * (options.Steps - done));
                _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {done}/{options.Steps} loss {loss:F4}{(eval is { } v ? $" eval {v:F4}" : "")} lr {schedule.At(step):E2} {tokens / Math.Max(elapsed, 1e-9):F0} tok/s eta {eta:hh\\:mm\\:ss}"));
            }
        }

        var metadata = new Dictionary<string, string>(extraMetadata ?? new Dictionary<string, string>())
        {
            ["serve.base_training.steps"] = options.Steps.ToString(CultureInfo.InvariantCulture),
            ["serve.base_training.seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            ["serve.base_training.final_loss"] = loss.ToString("R", CultureInfo.InvariantCulture),
        };
        if (lastEval is { } last) metadata["serve.base_training.eval_loss"] = last.ToString("R", CultureInfo.InvariantCulture);
        Write(outputPath, weights, storeMatricesAs, metadata);
        _log.WriteLine($"wrote {outputPath} ({new FileInfo(outputPath).Length / 1e6:F1} MB) in {watch.Elapsed:hh\\:mm\\:ss}");
        return new BaseTrainingResult(options.Steps, loss, initialEval, lastEval, tokens / Math.Max(watch.Elapsed.TotalSeconds, 1e-9), watch.Elapsed, history);
    }

    /// <summary>
    /// Examples sorted by length and grouped so that a batch's padded size stays within the token budget: short chats
    /// are not padded to the longest paragraph, which on this data more than halves the work of a step.
    /// </summary>
    internal static List<TokenizedExample[]> Batches(IReadOnlyList<TokenizedExample> examples, int tokenBudget)
    {
        var sorted = examples.OrderBy(e => e.Tokens.Length).ThenBy(e => e.Line).ToArray();
        var result = new List<TokenizedExample[]>();
        var current = new List<TokenizedExample>();
        foreach (var e in sorted)
        {
            if (current.Count > 0 && (current.Count + 1) * e.Tokens.Length > tokenBudget)
            {
                result.Add([.. current]);
                current.Clear();
            }
            current.Add(e);
        }
        if (current.Count > 0) result.Add([.. current]);
        return result;
    }

    /// <summary>Token-weighted mean loss over the held-out examples.</summary>
    public double Evaluate(LlamaForCausalLM model, Device device)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.eval();
        using var noGrad = no_grad();
        double sum = 0;
        long count = 0;
        for (var i = 0; i < _eval.Count; i += 8)
        {
            using var scope = NewDisposeScope();
            using var batch = TrainingBatch.Create([.. _eval.Skip(i).Take(8)], PadToken, device);
            sum += batch.LossSum(model.forward(batch.Inputs)).item<float>();
            count += batch.TrainedTokens;
        }
        model.train();
        return sum / Math.Max(count, 1);
    }

    /// <summary>The source GGUF's metadata and tensor order with the trained values; norms stay F32.</summary>
    private void Write(string outputPath, IReadOnlyList<(string Name, Tensor Weight)> weights, GgmlType storeMatricesAs, IReadOnlyDictionary<string, string> metadata)
    {
        using var source = GgufFile.Read(_initialModel);
        var trained = weights.ToDictionary(w => w.Name, w => w.Weight, StringComparer.Ordinal);
        var writer = new GgufWriter { Alignment = source.Alignment };
        foreach (var (key, value) in source.Metadata) writer.Set(key, value);
        writer.Set("general.file_type", (uint)(storeMatricesAs switch
        {
            GgmlType.F32 => 0, GgmlType.F16 => 1, GgmlType.Q8_0 => 7,
            _ => throw new ArgumentException($"cannot store base matrices as {storeMatricesAs}", nameof(storeMatricesAs)),
        }));
        foreach (var (key, value) in metadata) writer.Set(key, value);
        foreach (var info in source.Tensors)
        {
            if (!trained.TryGetValue(info.Name, out var tensor))
            {
                writer.AddTensor(info.Name, info.Type, info.Shape, source.ReadTensorBytes(info));
                continue;
            }
            float[] values;
            using (no_grad()) values = tensor.detach().cpu().contiguous().data<float>().ToArray();
            if (values.Length != info.ElementCount) throw new InvalidOperationException($"trained '{info.Name}' has {values.Length} values, the source {info.ElementCount}");
            writer.AddTensor(info.Name, info.Shape, values, info.Shape.Length == 2 ? storeMatricesAs : GgmlType.F32);
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (directory is not null) Directory.CreateDirectory(directory);
        var temp = outputPath + ".tmp";
        writer.WriteTo(temp);
        File.Move(temp, outputPath, overwrite: true);
    }
}

/// <summary>Settings of <see cref="BaseModelTrainer"/>.</summary>
public sealed record BaseTrainingOptions
{
    public int Steps { get; init; } = 1500;
    /// <summary>Most tokens in a step's batch, padding included (examples are grouped by length).</summary>
    public int BatchTokens { get; init; } = 2048;
    public double LearningRate { get; init; } = 2e-3;
    public int WarmupSteps { get; init; } = 50;
    public double MinLearningRateRatio { get; init; } = 0.05;
    public double WeightDecay { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public int Seed { get; init; } = 1;
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
    public int EvalEvery { get; init; } = 100;
    public int LogEvery { get; init; } = 25;

    public void Validate()
    {
        if (Steps <= 0) throw new ArgumentException("steps must be positive");
        if (BatchTokens <= 0) throw new ArgumentException("batch tokens must be positive");
        if (!(LearningRate > 0)) throw new ArgumentException("learning rate must be positive");
        if (WarmupSteps < 0) throw new ArgumentException("warmup steps must not be negative");
        if (EvalEvery <= 0 || LogEvery <= 0) throw new ArgumentException("eval-every and log-every must be positive");
    }
}

/// <summary>What a base training run did.</summary>
public sealed record BaseTrainingResult(int Steps, double FinalLoss, double? InitialEvalLoss, double? FinalEvalLoss, double TokensPerSecond, TimeSpan Elapsed, IReadOnlyList<(int Step, double Loss, double? Eval)> History);
