using Serve.Training.Data;
using static TorchSharp.torch;

namespace Serve.Training.Training;

/// <summary>
/// A right-padded micro-batch: inputs [batch, len] and next-token targets [batch, len-1] with -100 wherever the
/// predicted token is not trained or is padding. Causal attention means padding never affects real positions.
/// </summary>
public sealed class TrainingBatch : IDisposable
{
    public const long IgnoreIndex = -100;

    private TrainingBatch(Tensor inputs, Tensor targets, long tokens, long trainedTokens)
    {
        Inputs = inputs;
        Targets = targets;
        Tokens = tokens;
        TrainedTokens = trainedTokens;
    }

    public Tensor Inputs { get; }
    public Tensor Targets { get; }

    /// <summary>Real (non-padding) tokens processed.</summary>
    public long Tokens { get; }

    /// <summary>Targets that count in the loss.</summary>
    public long TrainedTokens { get; }

    public static long CountTrained(IEnumerable<TokenizedExample> examples) => examples.Sum(e => (long)e.Trained.Skip(1).Count(t => t));

    public static TrainingBatch Create(IReadOnlyList<TokenizedExample> examples, int padToken, Device device)
    {
        var length = examples.Max(e => e.Tokens.Length);
        var inputs = new long[examples.Count * length];
        var targets = new long[examples.Count * (length - 1)];
        Array.Fill(inputs, padToken);
        Array.Fill(targets, IgnoreIndex);
        long tokens = 0, trained = 0;
        for (var b = 0; b < examples.Count; b++)
        {
            var e = examples[b];
            tokens += e.Tokens.Length;
            for (var i = 0; i < e.Tokens.Length; i++) inputs[b * length + i] = e.Tokens[i];
            for (var i = 1; i < e.Tokens.Length; i++)
            {
                if (!e.Trained[i]) continue;
                targets[b * (length - 1) + i - 1] = e.Tokens[i];
                trained++;
            }
        }
        return new TrainingBatch(
            tensor(inputs, [examples.Count, length], device: device),
            tensor(targets, [examples.Count, length - 1], device: device),
            tokens, trained);
    }

    /// <summary>Summed cross-entropy over the trained targets.</summary>
    public Tensor LossSum(Tensor logits)
    {
        using var scope = NewDisposeScope();
        var vocab = logits.shape[2];
        var predictions = logits.narrow(1, 0, logits.shape[1] - 1).reshape(-1, vocab);
        var loss = nn.functional.cross_entropy(predictions, Targets.reshape(-1), ignore_index: IgnoreIndex, reduction: nn.Reduction.Sum);
        return loss.MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Inputs.Dispose();
        Targets.Dispose();
    }
}
