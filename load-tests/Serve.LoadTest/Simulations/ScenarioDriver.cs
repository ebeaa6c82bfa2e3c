using Serve.LoadTest.Client;
using Serve.LoadTest.Metrics;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Workloads;

namespace Serve.LoadTest.Simulations;

/// <summary>Drives one scenario: warm-up, then its phases in order. Requests still in flight when a phase ends
/// finish and are counted in the phase they started in; the scenario ends when the last one has.</summary>
public sealed class ScenarioDriver : IDisposable
{
    private readonly ScenarioSpec _spec;
    private readonly OpenAiLoadClient _client;
    private readonly RequestFactory _factory;
    private readonly RequestLogWriter _log;
    private readonly RunClock _clock;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _budgetSpent = new();
    private long _pending = 1;
    private long _measured;
    private long _seq;

    public ScenarioDriver(ScenarioSpec spec, OpenAiLoadClient client, RequestLogWriter log, RunClock clock, TimeSpan interval)
    {
        _spec = spec;
        _client = client;
        _log = log;
        _clock = clock;
        _factory = new RequestFactory(spec.Workload);
        Metrics = new ScenarioMetrics(spec.Name, spec.Slo, interval);
    }

    public ScenarioMetrics Metrics { get; }
    public AdapterPicker Adapters => _factory.Adapters;

    /// <param name="runToken">Cancelled at the run's hard stop: in-flight requests are abandoned then.</param>
    public async Task RunAsync(CancellationToken runToken)
    {
        using var stopIssuing = CancellationTokenSource.CreateLinkedTokenSource(runToken, _budgetSpent.Token);
        if (_spec.WarmUp > TimeSpan.Zero)
        {
            var first = _spec.Phases[0];
            var warm = first.Kind switch
            {
                PhaseKind.RampingConcurrency => first with { Kind = PhaseKind.ConstantConcurrency, Concurrency = Math.Max(1, (int)Math.Round(first.From)) },
                PhaseKind.RampingRate => first with { Kind = PhaseKind.ConstantRate, Rate = Math.Max(0.1, first.From) },
                _ => first,
            };
            await RunPhaseAsync(warm with { Name = "warm-up", Duration = _spec.WarmUp, MaxRequests = null }, "warm-up", -1, warmUp: true, stopIssuing.Token, runToken).ConfigureAwait(false);
        }
        for (var i = 0; i < _spec.Phases.Count && !stopIssuing.IsCancellationRequested; i++)
        {
            var phase = _spec.Phases[i];
            await RunPhaseAsync(phase, phase.DisplayName(i), i, warmUp: false, stopIssuing.Token, runToken).ConfigureAwait(false);
        }
        if (Interlocked.Decrement(ref _pending) == 0) _drained.TrySetResult();
        await _drained.Task.ConfigureAwait(false);
    }

    private async Task RunPhaseAsync(PhaseSpec phase, string name, int index, bool warmUp, CancellationToken stopIssuing, CancellationToken runToken)
    {
        var start = _clock.Now;
        if (warmUp) Metrics.WarmUpStarted();
        else Metrics.PhaseStarted(name, phase.Kind.ToString(), start);
        using var phaseCts = CancellationTokenSource.CreateLinkedTokenSource(stopIssuing);
        phaseCts.CancelAfter(phase.Duration);
        var budget = new PhaseBudget(phase.MaxRequests, phaseCts);
        switch (phase.Kind)
        {
            case PhaseKind.ConstantConcurrency:
            case PhaseKind.RampingConcurrency:
                await ClosedLoopAsync(phase, name, start, warmUp, budget, phaseCts.Token, runToken).ConfigureAwait(false);
                break;
            case PhaseKind.ConstantRate:
            case PhaseKind.RampingRate:
                await OpenLoopAsync(phase, name, index, start, warmUp, budget, phaseCts.Token, runToken).ConfigureAwait(false);
                break;
            case PhaseKind.Pause:
                await _clock.WaitUntilAsync(start + phase.Duration.TotalSeconds, phaseCts.Token).ConfigureAwait(false);
                break;
        }
        await phaseCts.CancelAsync().ConfigureAwait(false);
        if (!warmUp) Metrics.PhaseEnded(_clock.Now);
    }

    /// <summary>Virtual users: each sends its next request when its last one completes. A ramp moves the number
    /// of active users linearly; users above the current target sit idle.</summary>
    private async Task ClosedLoopAsync(PhaseSpec phase, string name, double start, bool warmUp, PhaseBudget budget,
        CancellationToken phaseToken, CancellationToken runToken)
    {
        var from = phase.Kind == PhaseKind.ConstantConcurrency ? phase.Concurrency : phase.From;
        var to = phase.Kind == PhaseKind.ConstantConcurrency ? phase.Concurrency : phase.To;
        var duration = phase.Duration.TotalSeconds;
        int Target()
        {
            var f = Math.Clamp((_clock.Now - start) / duration, 0, 1);
            return (int)Math.Round(from + (to - from) * f);
        }
        var users = (int)Math.Ceiling(Math.Max(from, to));
        for (var u = 0; u < users; u++)
        {
            var id = u;
            // A user counts as pending work until it exits, so the scenario cannot report while a user that
            // read the token just before the phase ended is still starting its last request.
            Interlocked.Increment(ref _pending);
            _ = Task.Run(async () =>
            {
                try
                {
                    await UserLoopAsync(id).ConfigureAwait(false);
                }
                finally
                {
                    if (Interlocked.Decrement(ref _pending) == 0) _drained.TrySetResult();
                }
            }, CancellationToken.None);
        }

        async Task UserLoopAsync(int id)
        {
            while (!phaseToken.IsCancellationRequested)
            {
                if (id >= Target())
                {
                    try { await Task.Delay(20, phaseToken).ConfigureAwait(false); }
                    catch (OperationCanceledException) { break; }
                    continue;
                }
                if (!TakeBudget(budget, warmUp)) break;
                await ExecuteAsync(name, warmUp, runToken).ConfigureAwait(false);
                if (phase.ThinkTime > TimeSpan.Zero)
                {
                    try { await Task.Delay(phase.ThinkTime, phaseToken).ConfigureAwait(false); }
                    catch (OperationCanceledException) { break; }
                }
            }
        }

        // The phase ends on time even if users are mid-request: those requests finish in the background and
        // the users stop once they return.
        await _clock.WaitUntilAsync(start + duration, phaseToken).ConfigureAwait(false);
    }

    /// <summary>Arrivals at a rate, independent of responses: Poisson arrivals of a possibly time-varying rate by
    /// thinning (candidates at the peak rate, each kept with probability rate(t)/peak), or evenly spaced.</summary>
    private async Task OpenLoopAsync(PhaseSpec phase, string name, int index, double start, bool warmUp, PhaseBudget budget,
        CancellationToken phaseToken, CancellationToken runToken)
    {
        var from = phase.Kind == PhaseKind.ConstantRate ? phase.Rate : phase.From;
        var to = phase.Kind == PhaseKind.ConstantRate ? phase.Rate : phase.To;
        var duration = phase.Duration.TotalSeconds;
        double RateAt(double t) => from + (to - from) * Math.Clamp(t / duration, 0, 1);
        var peak = Math.Max(from, to);
        var rng = new Random(unchecked(_spec.Workload.Seed * 7919 + index));
        var t = 0.0;
        while (!phaseToken.IsCancellationRequested)
        {
            if (phase.Arrival == ArrivalKind.Poisson)
            {
                do t += -Math.Log(1.0 - rng.NextDouble()) / peak;
                while (t < duration && rng.NextDouble() * peak > RateAt(t));
            }
            else
            {
                var rate = RateAt(t);
                t += rate > 0 ? 1.0 / rate : 0.001;
            }
            if (t >= duration) break;
            // Task.Delay has about a millisecond of resolution: arrivals already due go out at once, so the
            // average rate holds even when gaps are shorter than the timer.
            var due = start + t;
            if (due - _clock.Now > 0.001 && !await _clock.WaitUntilAsync(due, phaseToken).ConfigureAwait(false)) break;
            if (!TakeBudget(budget, warmUp)) break;
            // Building and starting a request happens on the thread pool, so the arrival clock never waits on it.
            Interlocked.Increment(ref _pending);
            ThreadPool.UnsafeQueueUserWorkItem(_ => _ = DispatchedAsync(name, warmUp, runToken), null);
        }
        await _clock.WaitUntilAsync(start + duration, phaseToken).ConfigureAwait(false);
    }

    private async Task DispatchedAsync(string phase, bool warmUp, CancellationToken runToken)
    {
        try
        {
            await ExecuteAsync(phase, warmUp, runToken).ConfigureAwait(false);
        }
        finally
        {
            if (Interlocked.Decrement(ref _pending) == 0) _drained.TrySetResult();
        }
    }

    private bool TakeBudget(PhaseBudget budget, bool warmUp)
    {
        if (warmUp) return true;
        if (_spec.MaxRequests is { } max && Interlocked.Increment(ref _measured) > max)
        {
            _budgetSpent.Cancel();
            return false;
        }
        return budget.Take();
    }

    private async Task ExecuteAsync(string phase, bool warmUp, CancellationToken runToken)
    {
        Interlocked.Increment(ref _pending);
        Metrics.Started(warmUp);
        var seq = Interlocked.Increment(ref _seq);
        RequestPlan? plan = null;
        RequestOutcome outcome;
        var start = _clock.Now;
        try
        {
            plan = _factory.Next();
            var body = RequestBody.Write(plan, _spec.Workload.Endpoint, _spec.Workload);
            start = _clock.Now;
            outcome = await _client.SendAsync(plan, body, _spec.Workload.Endpoint, runToken, _spec.Workload.StallAfterHeaders).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Any failure of one request is that request's result; the run goes on.
        catch (Exception e)
#pragma warning restore CA1031
        {
            outcome = new RequestOutcome { Ok = false, ErrorKind = "client_error", ErrorMessage = e.Message };
        }
        try
        {
            var end = _clock.Now;
            var meets = Metrics.MeetsSlo(outcome);
            var adapter = plan?.Adapter ?? "?";
            Metrics.Completed(phase, adapter, outcome, plan?.PromptTokens ?? 0, warmUp, meets, start, end);
            _log.Write(new RequestRecord
            {
                Seq = seq,
                Scenario = _spec.Name,
                Phase = phase,
                WarmUp = warmUp,
                Adapter = adapter,
                Stream = plan?.Stream ?? false,
                Repeated = plan?.Repeated ?? false,
                Start = Math.Round(start, 6),
                End = Math.Round(end, 6),
                Ok = outcome.Ok,
                Status = outcome.Status,
                ErrorKind = outcome.ErrorKind,
                Error = outcome.ErrorMessage,
                TtftMs = outcome.TtftUs / 1000.0,
                TpotMs = outcome.TpotUs is { } tpot ? Math.Round(tpot / 1000.0, 3) : null,
                ItlMeanMs = outcome.ItlUs is { Count: > 0 } gaps ? Math.Round(gaps.Average() / 1000.0, 3) : null,
                E2eMs = outcome.E2eUs / 1000.0,
                PromptTokens = plan?.PromptTokens ?? 0,
                UsagePromptTokens = outcome.UsagePromptTokens,
                MaxTokens = plan?.MaxTokens ?? 0,
                OutputTokens = outcome.OutputTokens,
                ContentChunks = outcome.ContentChunks,
                CacheHit = outcome.CacheHit,
                MeetsSlo = meets,
                RetryAfterSeconds = outcome.RetryAfterSeconds,
                Retries = outcome.Retries,
            });
        }
        finally
        {
            if (Interlocked.Decrement(ref _pending) == 0) _drained.TrySetResult();
        }
    }

    public void Dispose() => _budgetSpent.Dispose();
}
