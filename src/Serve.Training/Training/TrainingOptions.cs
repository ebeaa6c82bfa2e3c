using System.Text.Json.Serialization;
using Serve.Training.Data;
using Serve.Training.Lora;
using Serve.Training.Model;

namespace Serve.Training.Training;

/// <summary>Everything that decides what a training run computes. Defaults are the <c>serve train</c> defaults.</summary>
public sealed record TrainingOptions
{
    public LoraOptions Lora { get; init; } = new();
    public BaseQuantization Quantization { get; init; } = BaseQuantization.None;
    public int Epochs { get; init; } = 3;

    /// <summary>Optimizer steps; 0 = as many as <see cref="Epochs"/> need.</summary>
    public int MaxSteps { get; init; }

    public double LearningRate { get; init; } = 2e-4;

    /// <summary>Linear warmup as a fraction of all steps (used when <see cref="WarmupSteps"/> is negative).</summary>
    public double WarmupRatio { get; init; } = 0.05;

    public int WarmupSteps { get; init; } = -1;

    /// <summary>The cosine decay ends at this fraction of the peak learning rate.</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    public double WeightDecay { get; init; }
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double AdamEpsilon { get; init; } = 1e-8;

    /// <summary>Gradient norm clip; 0 = off.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Recompute each layer's activations in backward instead of keeping them (less memory, ~1/3 more compute).</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>Sequences per forward pass.</summary>
    public int BatchSize { get; init; } = 4;

    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;

    /// <summary>Longest sequence in tokens; 0 = min(512, model context).</summary>
    public int MaxLength { get; init; }

    public TruncationMode Truncation { get; init; } = TruncationMode.Right;
    public double EvalSplit { get; init; } = 0.1;

    /// <summary>Held-out loss every this many steps (and at the end); 0 = only at the end.</summary>
    public int EvalEvery { get; init; } = 50;

    /// <summary>Stop after this many evaluations without improvement; 0 = never.</summary>
    public int EarlyStoppingPatience { get; init; } = 3;

    public double EarlyStoppingMinDelta { get; init; } = 1e-4;
    public bool TrainOnPrompt { get; init; }

    /// <summary>
    /// Pack each micro-batch's examples into rows as long as the longest training example instead of padding every
    /// example to the longest in the batch; attention and positions never cross examples, so the loss is the same.
    /// </summary>
    public bool Packing { get; init; }
    public int Seed { get; init; } = 42;
    public string Device { get; init; } = "cpu";

    /// <summary>Checkpoint every this many steps (and at the end); 0 = only at the end.</summary>
    public int CheckpointEvery { get; init; } = 50;

    /// <summary>A progress line every this many steps.</summary>
    public int LogEvery { get; init; } = 10;

    /// <summary>Simulates a kill: stop right after step N's checkpoint (tests and demos of resume); 0 = off.</summary>
    [JsonIgnore]
    public int StopAfterStep { get; init; }

    public void Validate()
    {
        Lora.Validate();
        static void Positive(double v, string name) { if (!(v > 0)) throw new ArgumentException($"{name} must be positive, got {v}"); }
        Positive(LearningRate, "learning rate");
        Positive(BatchSize, "batch size");
        Positive(GradientAccumulation, "gradient accumulation");
        if (Epochs <= 0 && MaxSteps <= 0) throw new ArgumentException("epochs or max steps must be positive");
        if (MaxSteps < 0) throw new ArgumentException($"max steps must not be negative, got {MaxSteps}");
        if (EvalSplit is < 0 or >= 1) throw new ArgumentException($"eval split must be in [0, 1), got {EvalSplit}");
        if (MaxGradNorm < 0) throw new ArgumentException($"max grad norm must not be negative, got {MaxGradNorm}");
        if (WarmupRatio is < 0 or > 1) throw new ArgumentException($"warmup ratio must be in [0, 1], got {WarmupRatio}");
        if (MinLearningRateRatio is < 0 or > 1) throw new ArgumentException($"min learning rate ratio must be in [0, 1], got {MinLearningRateRatio}");
        if (Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1) throw new ArgumentException("Adam betas must be in [0, 1)");
        if (EvalEvery < 0 || CheckpointEvery < 0 || LogEvery < 0 || EarlyStoppingPatience < 0)
            throw new ArgumentException("eval-every, checkpoint-every, log-every and patience must not be negative");
        if (MaxLength is < 0 or 1) throw new ArgumentException($"max length must be 0 (auto) or at least 2, got {MaxLength}");
    }
}
