using Serve.LoadTest.Client;

namespace Serve.LoadTest.Metrics;

/// <summary>Counts and latency histograms for one scope (a scenario, or one adapter within it). Not thread-safe:
/// the owning <see cref="ScenarioMetrics"/> serializes access.</summary>
public sealed class StatsAccumulator
{
    public long Sent { get; private set; }
    public long Ok { get; private set; }
    public long Failed { get; private set; }
    public long Good { get; private set; }
    public long CacheHits { get; private set; }
    public long OutputTokens { get; private set; }
    public long PromptTokens { get; private set; }
    public long UsageReported { get; private set; }
    public LatencyHistogram Ttft { get; } = new();
    public LatencyHistogram Tpot { get; } = new();
    public LatencyHistogram Itl { get; } = new();
    public LatencyHistogram E2e { get; } = new();
    public SortedDictionary<string, long> ErrorsByStatus { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, long> ErrorsByKind { get; } = new(StringComparer.Ordinal);

    public void Add(RequestOutcome o, int plannedPromptTokens, bool meetsSlo)
    {
        Sent++;
        PromptTokens += o.UsagePromptTokens ?? plannedPromptTokens;
        if (!o.Ok)
        {
            Failed++;
            var status = o.Status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ErrorsByStatus[status] = ErrorsByStatus.GetValueOrDefault(status) + 1;
            var kind = o.ErrorKind ?? "unknown";
            ErrorsByKind[kind] = ErrorsByKind.GetValueOrDefault(kind) + 1;
            return;
        }
        Ok++;
        if (meetsSlo) Good++;
        if (o.CacheHit) CacheHits++;
        if (o.UsageCompletionTokens is not null) UsageReported++;
        OutputTokens += o.OutputTokens;
        E2e.Record(o.E2eUs);
        if (o.TtftUs is { } ttft) Ttft.Record(ttft);
        if (o.TpotUs is { } tpot) Tpot.Record((long)Math.Round(tpot));
        if (o.ItlUs is { } gaps)
        {
            foreach (var gap in gaps) Itl.Record(gap);
        }
    }
}
