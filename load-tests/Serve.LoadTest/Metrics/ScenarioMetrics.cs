using Serve.LoadTest.Client;
using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Metrics;

/// <summary>Everything measured for one scenario. Request completions are recorded under one lock: at a few
/// thousand requests per second that costs far less than the HTTP work around it.</summary>
public sealed class ScenarioMetrics
{
    private readonly Lock _gate = new();
    private readonly SloSpec _slo;
    private readonly double _interval;
    private readonly List<TimeBucket> _buckets = [];
    private readonly List<double> _failureTimes = [];
    private readonly List<PhaseWindow> _phases = [];
    private long _dispatched;
    private long _inFlight;
    private long _warmUp;
    private string _currentPhase = "";

    public ScenarioMetrics(string name, SloSpec slo, TimeSpan interval)
    {
        Name = name;
        _slo = slo;
        _interval = interval.TotalSeconds;
    }

    public string Name { get; }
    public StatsAccumulator Overall { get; } = new();
    public SortedDictionary<string, StatsAccumulator> Adapters { get; } = new(StringComparer.Ordinal);

    /// <summary>Requests by the phase they started in.</summary>
    public Dictionary<string, StatsAccumulator> PhaseStats { get; } = new(StringComparer.Ordinal);
    public double IntervalSeconds => _interval;
    public string CurrentPhase { get => Volatile.Read(ref _currentPhase); private set => Volatile.Write(ref _currentPhase, value); }

    public long Dispatched => Interlocked.Read(ref _dispatched);
    public long InFlight => Interlocked.Read(ref _inFlight);
    public long WarmUpRequests => Interlocked.Read(ref _warmUp);

    /// <summary>Time of the first measured request and of the last measured completion, in run seconds.</summary>
    public double? MeasuredStart { get; private set; }
    public double? MeasuredEnd { get; private set; }

    public IReadOnlyList<PhaseWindow> Phases => _phases;

    public void Started(bool warmUp)
    {
        Interlocked.Increment(ref _inFlight);
        if (!warmUp) Interlocked.Increment(ref _dispatched);
    }

    public void PhaseStarted(string name, string kind, double at)
    {
        lock (_gate) _phases.Add(new PhaseWindow { Name = name, Kind = kind, Start = at, End = at });
        CurrentPhase = name;
    }

    public void WarmUpStarted() => CurrentPhase = "warm-up";

    public void PhaseEnded(double at)
    {
        lock (_gate)
        {
            if (_phases.Count > 0) _phases[^1] = _phases[^1] with { End = at };
        }
    }

    public bool MeetsSlo(RequestOutcome o)
    {
        if (!o.Ok) return false;
        if (_slo.TtftMs is { } ttft && (o.TtftUs is null || o.TtftUs.Value / 1000.0 > ttft)) return false;
        if (_slo.TpotMs is { } tpot && o.TpotUs is { } t && t / 1000.0 > tpot) return false;
        if (_slo.E2eMs is { } e2e && o.E2eUs / 1000.0 > e2e) return false;
        return true;
    }

    public void Completed(string phase, string adapter, RequestOutcome o, int plannedPromptTokens, bool warmUp, bool meetsSlo,
        double start, double end)
    {
        Interlocked.Decrement(ref _inFlight);
        if (warmUp)
        {
            Interlocked.Increment(ref _warmUp);
            return;
        }
        lock (_gate)
        {
            MeasuredStart = MeasuredStart is { } s ? Math.Min(s, start) : start;
            MeasuredEnd = MeasuredEnd is { } e ? Math.Max(e, end) : end;
            Overall.Add(o, plannedPromptTokens, meetsSlo);
            if (!Adapters.TryGetValue(adapter, out var perAdapter)) Adapters[adapter] = perAdapter = new StatsAccumulator();
            perAdapter.Add(o, plannedPromptTokens, meetsSlo);
            if (!PhaseStats.TryGetValue(phase, out var perPhase)) PhaseStats[phase] = perPhase = new StatsAccumulator();
            perPhase.Add(o, plannedPromptTokens, meetsSlo);
            var bucket = Bucket(end);
            if (o.Ok)
            {
                bucket.Ok++;
                bucket.OutputTokens += o.OutputTokens;
                if (o.CacheHit) bucket.CacheHits++;
                bucket.E2e.Record(o.E2eUs);
                if (o.TtftUs is { } ttft) bucket.Ttft.Record(ttft);
            }
            else
            {
                bucket.Failed++;
                _failureTimes.Add(end);
            }
        }
    }

    private TimeBucket Bucket(double at)
    {
        var index = Math.Max(0, (int)(at / _interval));
        while (_buckets.Count <= index) _buckets.Add(new TimeBucket());
        return _buckets[index];
    }

    /// <summary>Runs <paramref name="read"/> with the recorded state held still.</summary>
    public T Read<T>(Func<IReadOnlyList<TimeBucket>, IReadOnlyList<double>, T> read)
    {
        lock (_gate) return read(_buckets, _failureTimes);
    }
}
