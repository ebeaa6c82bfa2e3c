namespace Serve.LoadTest.Metrics;

/// <summary>One line of the per-request JSONL report. Times in seconds from the run's start, latencies in ms.</summary>
public sealed record RequestRecord
{
    public long Seq { get; init; }
    public required string Scenario { get; init; }
    public required string Phase { get; init; }
    public bool WarmUp { get; init; }
    public required string Adapter { get; init; }
    public bool Stream { get; init; }
    public bool Repeated { get; init; }
    public double Start { get; init; }
    public double End { get; init; }
    public bool Ok { get; init; }
    public int Status { get; init; }
    public string? ErrorKind { get; init; }
    public string? Error { get; init; }
    public double? TtftMs { get; init; }
    public double? TpotMs { get; init; }
    public double? ItlMeanMs { get; init; }
    public double E2eMs { get; init; }
    public int PromptTokens { get; init; }
    public int? UsagePromptTokens { get; init; }
    public int MaxTokens { get; init; }
    public int OutputTokens { get; init; }
    public int ContentChunks { get; init; }
    public bool CacheHit { get; init; }
    public bool MeetsSlo { get; init; }
    public double? RetryAfterSeconds { get; init; }

    /// <summary>1 when the send was repeated on a fresh connection (the server closed a reused one unanswered).</summary>
    public int Retries { get; init; }
}
