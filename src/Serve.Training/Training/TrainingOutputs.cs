namespace Serve.Training.Training;

/// <summary>Where a run writes: the adapter, and next to it by default the checkpoint, the metrics log and the loss curve.</summary>
public sealed record TrainingOutputs(string AdapterPath)
{
    public string CheckpointPath { get; init; } = AdapterPath + ".checkpoint";
    public string MetricsPath { get; init; } = Path.ChangeExtension(AdapterPath, ".metrics.jsonl");
    public string LossCurvePath { get; init; } = Path.ChangeExtension(AdapterPath, ".loss.png");
}
