namespace Serve.Training.Data;

/// <summary>Token ids of one conversation and, per token, whether the loss is taken on predicting it.</summary>
public sealed record TokenizedExample(int Line, int[] Tokens, bool[] Trained)
{
    public int TrainedCount => Trained.Count(t => t);
}
