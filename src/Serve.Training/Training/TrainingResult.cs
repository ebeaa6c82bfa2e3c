namespace Serve.Training.Training;

/// <summary>How a run ended.</summary>
public sealed record TrainingResult
{
    public required int StepsDone { get; init; }
    public required int TotalSteps { get; init; }
    public double? BaseEvalLoss { get; init; }
    public double? FinalEvalLoss { get; init; }
    public double? BestEvalLoss { get; init; }
    public double FinalTrainLoss { get; init; }
    public bool StoppedEarly { get; init; }

    /// <summary>Stopped by <see cref="TrainingOptions.StopAfterStep"/>, like a kill after a checkpoint.</summary>
    public bool Interrupted { get; init; }

    public bool Resumed { get; init; }
    public double TokensPerSecond { get; init; }
    public long PeakWorkingSetBytes { get; init; }
    public IReadOnlyList<StepMetrics> History { get; init; } = [];
}
