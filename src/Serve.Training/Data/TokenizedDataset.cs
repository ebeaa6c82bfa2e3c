namespace Serve.Training.Data;

/// <summary>Tokenized train and held-out examples, with what was truncated or dropped (by line number).</summary>
public sealed record TokenizedDataset(
    IReadOnlyList<TokenizedExample> Train,
    IReadOnlyList<TokenizedExample> Eval,
    IReadOnlyList<int> TruncatedLines,
    IReadOnlyList<int> DroppedLines)
{
    /// <summary>
    /// Tokenizes, truncates and splits. The held-out part is a seeded random <paramref name="evalFraction"/> of the
    /// examples (at least one when the fraction is positive and there are two or more), unless an explicit eval set is given.
    /// </summary>
    public static TokenizedDataset Build(IReadOnlyList<ChatExample> examples, ChatTokenizer tokenizer, int maxLength, TruncationMode truncation,
        double evalFraction, int seed, bool trainOnPrompt = false, IReadOnlyList<ChatExample>? evalExamples = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (maxLength < 2) throw new ArgumentException($"max length must be at least 2, got {maxLength}");
        if (evalFraction is < 0 or >= 1) throw new ArgumentException($"eval split must be in [0, 1), got {evalFraction}");
        var truncated = new List<int>();
        var dropped = new List<int>();

        List<TokenizedExample> Encode(IEnumerable<ChatExample> source)
        {
            var result = new List<TokenizedExample>();
            foreach (var example in source)
            {
                var t = tokenizer.Encode(example, trainOnPrompt);
                if (t.Tokens.Length > maxLength)
                {
                    if (truncation == TruncationMode.Drop)
                    {
                        dropped.Add(example.Line);
                        continue;
                    }
                    t = truncation == TruncationMode.Right
                        ? t with { Tokens = t.Tokens[..maxLength], Trained = t.Trained[..maxLength] }
                        : t with { Tokens = [t.Tokens[0], .. t.Tokens[^(maxLength - 1)..]], Trained = [false, .. t.Trained[^(maxLength - 1)..]] };
                    truncated.Add(example.Line);
                }
                // The first token is never predicted, so a mask set only there trains nothing.
                if (!t.Trained.Skip(1).Any(x => x))
                {
                    dropped.Add(example.Line);
                    continue;
                }
                result.Add(t);
            }
            return result;
        }

        List<ChatExample> trainSource, evalSource;
        if (evalExamples is not null)
        {
            trainSource = [.. examples];
            evalSource = [.. evalExamples];
        }
        else
        {
            var order = Enumerable.Range(0, examples.Count).ToArray();
            new Random(seed).Shuffle(order);
            var evalCount = evalFraction > 0 && examples.Count >= 2 ? Math.Max(1, (int)Math.Round(examples.Count * evalFraction)) : 0;
            evalSource = [.. order.Take(evalCount).Order().Select(i => examples[i])];
            trainSource = [.. order.Skip(evalCount).Order().Select(i => examples[i])];
        }
        var train = Encode(trainSource);
        var eval = Encode(evalSource);
        if (train.Count == 0) throw new DatasetException("no training example is left after truncation (see the dropped lines)");
        return new TokenizedDataset(train, eval, truncated, dropped);
    }
}
