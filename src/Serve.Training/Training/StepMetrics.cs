using System.Text.Json.Serialization;

namespace Serve.Training.Training;

/// <summary>One line of the per-step JSON metrics log.</summary>
public sealed record StepMetrics
{
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("epoch")] public double Epoch { get; init; }
    [JsonPropertyName("loss")] public double Loss { get; init; }
    [JsonPropertyName("lr")] public double LearningRate { get; init; }
    [JsonPropertyName("grad_norm")] public double GradNorm { get; init; }
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
    [JsonPropertyName("trained_tokens")] public long TrainedTokens { get; init; }
    [JsonPropertyName("tokens_per_second")] public double TokensPerSecond { get; init; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }

    [JsonPropertyName("eval_loss")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? EvalLoss { get; init; }
}
