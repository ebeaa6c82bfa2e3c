using Serve.LoadTest.Metrics;

namespace Serve.LoadTest.Reports;

/// <summary>The measured numbers of one scope: a whole scenario or one adapter in it.</summary>
public sealed record StatsReport
{
    public required string Name { get; init; }
    public long Sent { get; init; }
    public long Ok { get; init; }
    public long Failed { get; init; }
    public double ErrorRate { get; init; }
    public double Rps { get; init; }
    public long OutputTokens { get; init; }
    public long PromptTokens { get; init; }
    public double OutputTokensPerSecond { get; init; }

    /// <summary>Requests per second that succeeded and met every SLO.</summary>
    public double Goodput { get; init; }

    /// <summary>Share of sent requests that succeeded and met every SLO.</summary>
    public double GoodputRatio { get; init; }

    public long CacheHits { get; init; }
    public double CacheHitRate { get; init; }

    /// <summary>Share of successful requests whose token count came from the server's usage field.</summary>
    public double UsageCoverage { get; init; }

    /// <summary>This scope's share of the scenario's requests, and what the adapter mix asked for.</summary>
    public double? Share { get; init; }
    public double? ExpectedShare { get; init; }

    public required LatencySummary Ttft { get; init; }
    public required LatencySummary Tpot { get; init; }
    public required LatencySummary Itl { get; init; }
    public required LatencySummary E2e { get; init; }
    public required IReadOnlyDictionary<string, long> ErrorsByStatus { get; init; }
    public required IReadOnlyDictionary<string, long> ErrorsByKind { get; init; }
}
