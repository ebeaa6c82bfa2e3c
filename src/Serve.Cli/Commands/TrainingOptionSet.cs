using System.CommandLine;
using System.Globalization;
using Serve.Training.Data;
using Serve.Training.Lora;
using Serve.Training.Model;
using Serve.Training.Training;

namespace Serve.Cli.Commands;

/// <summary>
/// The training options of <c>serve train</c> (same names, same defaults from TrainingOptions) for commands that
/// train on the way to something else, such as <c>serve publish</c>.
/// </summary>
internal sealed class TrainingOptionSet
{
    private static readonly TrainingOptions D = new();

    public Option<bool> QLora { get; } = new("--qlora") { Description = "Hold the frozen base in 4-bit NF4 (QLoRA)" };
    public Option<bool> NoDoubleQuant { get; } = new("--no-double-quant") { Description = "With --qlora: keep the per-block absmax in float32" };
    public Option<int> Rank { get; } = new("--rank") { Description = "LoRA rank", DefaultValueFactory = _ => D.Lora.Rank };
    public Option<float> Alpha { get; } = new("--alpha") { Description = "LoRA alpha (scale alpha/rank)", DefaultValueFactory = _ => D.Lora.Alpha };
    public Option<float> Dropout { get; } = new("--dropout") { Description = "LoRA dropout", DefaultValueFactory = _ => D.Lora.Dropout };
    public Option<bool> RsLora { get; } = new("--rslora") { Description = "Rank-stabilised scale alpha/sqrt(rank)" };
    public Option<string> Targets { get; } = new("--targets") { Description = "Adapted matrices: q,k,v,o,gate,up,down", DefaultValueFactory = _ => string.Join(",", D.Lora.Targets) };
    public Option<int> Epochs { get; } = new("--epochs") { Description = "Passes over the training data", DefaultValueFactory = _ => D.Epochs };
    public Option<int> MaxSteps { get; } = new("--max-steps") { Description = "Optimizer steps (0 = from --epochs)", DefaultValueFactory = _ => D.MaxSteps };
    public Option<double> LearningRate { get; } = new("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => D.LearningRate };
    public Option<double> Warmup { get; } = new("--warmup") { Description = "Warmup as a fraction of the steps", DefaultValueFactory = _ => D.WarmupRatio };
    public Option<double> MinLr { get; } = new("--min-lr-ratio") { Description = "Cosine ends at this fraction of --lr", DefaultValueFactory = _ => D.MinLearningRateRatio };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "AdamW weight decay", DefaultValueFactory = _ => D.WeightDecay };
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Sequences per micro-batch", DefaultValueFactory = _ => D.BatchSize };
    public Option<int> Accumulation { get; } = new("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => D.GradientAccumulation };
    public Option<double> Clip { get; } = new("--max-grad-norm") { Description = "Gradient clipping norm (0 = off)", DefaultValueFactory = _ => D.MaxGradNorm };
    public Option<bool> GradientCheckpointing { get; } = new("--gradient-checkpointing") { Description = "Recompute activations in backward: less memory, about a third more compute" };
    public Option<int> MaxLength { get; } = new("--max-length") { Description = $"Longest sequence in tokens (0 = min({TrainingSession.DefaultMaxLength}, model context))", DefaultValueFactory = _ => D.MaxLength };
    public Option<string> Truncation { get; } = new("--truncation") { Description = "Longer conversations: right (cut the end), left (keep the end), drop", DefaultValueFactory = _ => "right" };
    public Option<double> EvalSplit { get; } = new("--eval-split") { Description = "Held-out fraction of the dataset", DefaultValueFactory = _ => D.EvalSplit };
    public Option<int> EvalEvery { get; } = new("--eval-every") { Description = "Held-out loss every N steps (0 = at the end)", DefaultValueFactory = _ => D.EvalEvery };
    public Option<int> Patience { get; } = new("--patience") { Description = "Early stop after N evaluations without improvement (0 = off)", DefaultValueFactory = _ => D.EarlyStoppingPatience };
    public Option<bool> TrainOnPrompt { get; } = new("--train-on-prompt") { Description = "Take the loss on prompt tokens too (default: assistant answers only)" };
    public Option<bool> Packing { get; } = new("--packing") { Description = "Pack several examples into each sequence (attention and positions never cross examples; same loss, less padding)" };
    public Option<int> Seed { get; } = new("--seed") { Description = "Seed (initialisation, order, dropout, split)", DefaultValueFactory = _ => D.Seed };
    public Option<string> Device { get; } = new("--device") { Description = "cpu, cuda, cuda:N", DefaultValueFactory = _ => D.Device };
    public Option<int> LogEvery { get; } = new("--log-every") { Description = "Progress line every N steps", DefaultValueFactory = _ => D.LogEvery };
    public Option<int> Threads { get; } = new("--threads") { Description = "CPU threads for TorchSharp and llama.cpp (0 = all cores)", DefaultValueFactory = _ => 0 };

    public TrainingOptionSet() => Truncation.AcceptOnlyFromAmong("right", "left", "drop");

    public IEnumerable<Option> All =>
    [
        QLora, NoDoubleQuant, Rank, Alpha, Dropout, RsLora, Targets, Epochs, MaxSteps, LearningRate, Warmup, MinLr, WeightDecay, BatchSize,
        Accumulation, Clip, GradientCheckpointing, MaxLength, Truncation, EvalSplit, EvalEvery, Patience, TrainOnPrompt, Packing, Seed, Device, LogEvery, Threads,
    ];

    /// <summary>The options as parsed; checkpoints are off (a publish trains in a fresh work directory).</summary>
    public TrainingOptions Read(ParseResult p)
    {
        var options = new TrainingOptions
        {
            Lora = new LoraOptions
            {
                Rank = p.GetValue(Rank), Alpha = p.GetValue(Alpha), Dropout = p.GetValue(Dropout),
                RsLora = p.GetValue(RsLora), Targets = LoraTarget.Parse(p.GetValue(Targets)!),
            },
            Quantization = !p.GetValue(QLora) ? BaseQuantization.None
                : p.GetValue(NoDoubleQuant) ? BaseQuantization.Nf4 : BaseQuantization.Nf4DoubleQuant,
            Epochs = p.GetValue(Epochs), MaxSteps = p.GetValue(MaxSteps), LearningRate = p.GetValue(LearningRate),
            WarmupRatio = p.GetValue(Warmup), MinLearningRateRatio = p.GetValue(MinLr), WeightDecay = p.GetValue(WeightDecay),
            BatchSize = p.GetValue(BatchSize), GradientAccumulation = p.GetValue(Accumulation), MaxGradNorm = p.GetValue(Clip),
            GradientCheckpointing = p.GetValue(GradientCheckpointing), MaxLength = p.GetValue(MaxLength), Truncation = Enum.Parse<TruncationMode>(p.GetValue(Truncation)!, ignoreCase: true),
            EvalSplit = p.GetValue(EvalSplit), EvalEvery = p.GetValue(EvalEvery), EarlyStoppingPatience = p.GetValue(Patience),
            TrainOnPrompt = p.GetValue(TrainOnPrompt), Packing = p.GetValue(Packing), Seed = p.GetValue(Seed), Device = p.GetValue(Device)!,
            CheckpointEvery = 0, LogEvery = p.GetValue(LogEvery),
        };
        options.Validate();
        return options;
    }

    /// <summary>Every setting, defaults included, as lines to print before training.</summary>
    public static IEnumerable<string> Describe(TrainingOptions o) =>
    [
        string.Create(CultureInfo.InvariantCulture,
            $"{(o.Quantization == BaseQuantization.None ? "lora" : "qlora (" + o.Quantization + ")")} rank {o.Lora.Rank} alpha {o.Lora.Alpha} dropout {o.Lora.Dropout} rslora {o.Lora.RsLora} targets {string.Join(",", o.Lora.Targets)}"),
        string.Create(CultureInfo.InvariantCulture,
            $"epochs {o.Epochs} max-steps {o.MaxSteps} lr {o.LearningRate} warmup {o.WarmupRatio} min-lr-ratio {o.MinLearningRateRatio} weight-decay {o.WeightDecay} batch-size {o.BatchSize} grad-accum {o.GradientAccumulation} max-grad-norm {o.MaxGradNorm} gradient-checkpointing {o.GradientCheckpointing}"),
        string.Create(CultureInfo.InvariantCulture,
            $"max-length {(o.MaxLength == 0 ? "auto" : o.MaxLength)} truncation {o.Truncation.ToString().ToLowerInvariant()} eval-split {o.EvalSplit} eval-every {o.EvalEvery} patience {o.EarlyStoppingPatience} train-on-prompt {o.TrainOnPrompt} packing {o.Packing} seed {o.Seed} device {o.Device} threads {TorchSharp.torch.get_num_threads()}"),
    ];
}
