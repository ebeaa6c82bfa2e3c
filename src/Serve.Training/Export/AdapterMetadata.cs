namespace Serve.Training.Export;

/// <summary>What an exported adapter records about how it was made (written under <c>serve.*</c> keys).</summary>
public sealed record AdapterMetadata
{
    public string? Name { get; init; }
    public string? BaseModelSha256 { get; init; }
    public string? DatasetSha256 { get; init; }

    /// <summary>The training settings as JSON.</summary>
    public string? TrainingConfigJson { get; init; }

    public double? EvalLoss { get; init; }
    public double? BaseEvalLoss { get; init; }
    public long? Steps { get; init; }
}
