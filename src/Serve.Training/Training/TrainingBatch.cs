using Serve.Training.Data;
using static TorchSharp.torch;

namespace Serve.Training.Training;

/// <summary>
/// A right-padded micro-batch: inputs [batch, len] and next-token targets [batch, len-1] with -100 wherever the
/// predicted token is not trained or is padding. Causal attention means padding never affects real positions.
/// A packed batch (<see cref="CreatePacked"/>) puts several examples in a row; <see cref="Segments"/> then tells the
/// model which example each token belongs to, so attention and RoPE positions never cross examples and no target
/// is predicted from another example's last token.
/// </summary>
public sealed class TrainingBatch : IDisposable
{
    public const long IgnoreIndex = -100;

    private TrainingBatch(Tensor inputs, Tensor targets, long tokens, long trainedTokens, int[][]? segments = null)
    {
        Segments = segments;
        Inputs = inputs;
        Targets = targets;
        Tokens = tokens;
        TrainedTokens = trainedTokens;
    }

    public Tensor Inputs { get; }
    public Tensor Targets { get; }

    /// <summary>[row][position] example number of each token of a packed batch (padding has its own); null when unpacked.</summary>
    public int[][]? Segments { get; }

    /// <summary>Logits of the batch: the model's forward pass with the packing segments, if any.</summary>
    public Tensor Forward(Model.LlamaForCausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Forward(Inputs, Segments);
    }

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

    /// <summary>
    /// Packs the examples, in order, into rows of at most <paramref name="rowLength"/> tokens (a new row when the next
    /// example does not fit); an example longer than a row gets a row of its own.
    /// </summary>
    public static TrainingBatch CreatePacked(IReadOnlyList<TokenizedExample> examples, int rowLength, int padToken, Device device)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var rows = new List<List<TokenizedExample>>();
        var used = 0;
        foreach (var e in examples)
        {
            if (rows.Count == 0 || used + e.Tokens.Length > rowLength)
            {
                rows.Add([]);
                used = 0;
            }
            rows[^1].Add(e);
            used += e.Tokens.Length;
        }
        var length = rows.Max(r => r.Sum(e => e.Tokens.Length));
        var inputs = new long[rows.Count * length];
        var targets = new long[rows.Count * (length - 1)];
        var segments = new int[rows.Count][];
        Array.Fill(inputs, padToken);
        Array.Fill(targets, IgnoreIndex);
        long tokens = 0, trained = 0;
        for (var r = 0; r < rows.Count; r++)
        {
            segments[r] = new int[length];
            var at = 0;
            for (var s = 0; s < rows[r].Count; s++)
            {
                var e = rows[r][s];
                tokens += e.Tokens.Length;
                for (var i = 0; i < e.Tokens.Length; i++)
                {
                    inputs[r * length + at + i] = e.Tokens[i];
                    segments[r][at + i] = s;
                    // Position 0 of an example is never a target: the token before it belongs to another example.
                    if (i == 0 || !e.Trained[i]) continue;
                    targets[r * (length - 1) + at + i - 1] = e.Tokens[i];
                    trained++;
                }
                at += e.Tokens.Length;
            }
            for (var i = at; i < length; i++) segments[r][i] = rows[r].Count; // padding: a segment of its own
        }
        return new TrainingBatch(
            tensor(inputs, [rows.Count, length], device: device),
            tensor(targets, [rows.Count, length - 1], device: device),
            tokens, trained, segments);
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
