using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Serve.Models;

namespace Serve.Engine.Bench;

/// <summary>
/// Issue 13's many-adapter benchmark: `count` adapters registered, 64 pool slots, requests choose their adapter with
/// Zipf(1.0) popularity, 16 closed-loop streams; the same requests all on one adapter are the reference. Step times
/// come from the engine's own serve.engine.step_duration histogram (one scheduler step that decodes), read through a
/// MeterListener together with the adapter load counters, so the steps taken while cold loads were in flight can be
/// told apart.
/// </summary>
internal static class ManyAdapterBench
{
    private const int Streams = 16;
    private const int Slots = 64;
    private const int Rank = 8;

    public static async Task RunAsync(string model, string work, int count, int requests, int tokens, int rounds, int? threads, int? poolRank, Serve.Llama.Native.GgmlType? poolType, int batch, int? prefillWhileDecoding)
    {
        var clock = Stopwatch.StartNew();
        var directory = Path.Combine(work, $"adapters-many-r{Rank}-f16-" + Path.GetFileNameWithoutExtension(model));
        Directory.CreateDirectory(directory);
        var made = 0;
        for (var i = 0; i < count; i++)
        {
            var path = Path.Combine(directory, Name(i) + ".gguf");
            if (File.Exists(path)) continue;
            // Written under a temp name and moved, so an interrupted run never leaves a half file the next one keeps.
            LoraMaker.Write(path + ".part", model, new LoraSpec
            {
                Seed = 5000 + i, Rank = Rank, Alpha = Rank, Targets = ["attn_q", "attn_v"], WeightType = Serve.Gguf.GgmlType.F16,
            });
            File.Move(path + ".part", path, overwrite: true);
            made++;
        }
        var bytes = Directory.EnumerateFiles(directory, "*.gguf").Sum(f => new FileInfo(f).Length);
        Console.WriteLine($"{count} rank-{Rank} F16 adapters on attn_q/attn_v in {directory} ({bytes / 1e6:F0} MB; {made} made now, {clock.Elapsed.TotalSeconds:F1} s)");

        clock.Restart();
        using var engine = InferenceEngine.Start(new EngineOptions
        {
            ModelPath = model, AdaptersDirectory = directory, MaxSequences = Streams, ContextPerSequence = 256, PrefixCache = false,
            MaxLoadedAdapters = Slots, AdapterPoolRank = poolRank, MaxAdapterRank = Math.Min(poolRank ?? 16, 16), // 16: the engine's default
            AdapterPoolType = poolType,
            BatchSize = batch, Threads = threads, PrefillTokensWhileDecoding = prefillWhileDecoding,
        });
        Console.WriteLine($"engine started with {engine.Adapters.List().Count} adapters registered in {clock.Elapsed.TotalSeconds:F1} s; " +
            $"{Slots} slots (pool rank {poolRank?.ToString(CultureInfo.InvariantCulture) ?? "default"}, factors {poolType?.ToString() ?? "default"}), {Streams} streams, {requests} requests of {tokens / 2}-{tokens} tokens a run, at most {batch} tokens a step{(prefillWhileDecoding is { } pw ? $" ({pw} prompt tokens with decodes)" : "")}, " +
            $"{Environment.ProcessorCount} cores, {(threads is null ? "llama.cpp's default threads" : $"{threads} llama.cpp threads")}");

        using var meters = new StepMeters();
        var target = new EngineTarget(engine);
        // The same Zipf draw for every round: request i asks for adapter zipf[i] (rank 1 = the most popular).
        var zipf = ZipfDraw(count, 1.0, requests, seed: 13);
        // Answer lengths drawn once too (tokens/2..tokens): equal lengths would make the 16 streams finish, and their
        // next prompts arrive, in lockstep waves, and the step p99 would measure those prefill waves.
        var random = new Random(14);
        var lengths = Enumerable.Range(0, requests).Select(_ => random.Next(tokens / 2, tokens + 1)).ToArray();
        var distinct = zipf.Distinct().Count();
        Console.WriteLine($"Zipf(1.0) draw: {distinct} distinct adapters in {requests} requests; the 64 most popular get {zipf.Count(k => k < Slots) * 100.0 / requests:F0}% of them");

        // Warm-up: the first graphs, the popular adapter of the single runs, then the pool filled the way a steady
        // Zipf load leaves it (the most popular adapters resident), so the measured run starts warm, not empty.
        await RunAsync(target, new int[Streams], lengths);
        await Task.WhenAll(Enumerable.Range(0, Slots).Select(i => engine.Adapters.LoadAsync(Name(i))));

        var single = new List<RunResult>();
        var mixed = new List<RunResult>();
        for (var r = 0; r < rounds; r++)
        {
            // Interleaved so a noisy neighbour hits both alike. The single run uses the most popular adapter, resident.
            single.Add(await Measure(meters, () => RunAsync(target, new int[requests], lengths)));
            mixed.Add(await Measure(meters, () => RunAsync(target, zipf, lengths)));
        }
        Console.WriteLine();
        Console.WriteLine("| run | tok/s | steps | step p50 / p99 ms | p99/p50 | steps during loads | their p50 / p99 ms | their p99/p50 | other steps p50 / p99 ms | loads | evictions | load p50 / p99 ms | TTFT p50 / p90 ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (var r = 0; r < rounds; r++)
        {
            Row($"single adapter, round {r + 1}", single[r]);
            Row($"Zipf over {count}, round {r + 1}", mixed[r]);
        }
        Console.WriteLine();
        Console.WriteLine("Steps without prompt tokens (one decode token per running sequence), apart from those that also prefill:");
        Console.WriteLine("| run | steps | p50 / p99 ms | during loads: steps | p50 / p99 ms | p99/p50 |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        for (var r = 0; r < rounds; r++)
        {
            foreach (var (label, x) in new[] { ($"single adapter, round {r + 1}", single[r]), ($"Zipf over {count}, round {r + 1}", mixed[r]) })
                Console.WriteLine($"| {label} | {x.DecodeSteps} | {x.DecodeP50 * 1000:F1} / {x.DecodeP99 * 1000:F1} | {x.DecodeLoadSteps} | " +
                    (x.DecodeLoadSteps == 0 ? "- | - |" : $"{x.DecodeLoadP50 * 1000:F1} / {x.DecodeLoadP99 * 1000:F1} | {x.DecodeLoadP99 / x.DecodeLoadP50:F2} |"));
        }
        var bestSingle = single.Max(x => x.TokensPerSecond);
        var bestMixed = mixed.Max(x => x.TokensPerSecond);
        var paired = Enumerable.Range(0, rounds).Select(r => mixed[r].TokensPerSecond / single[r].TokensPerSecond).Order().ToArray();
        var loadRatios = mixed.Select(m => m.LoadP99 / m.LoadP50).ToArray();
        Console.WriteLine();
        Console.WriteLine($"throughput Zipf/single: {bestMixed / bestSingle:F3}x best rounds; paired rounds {string.Join(" ", paired.Select(x => x.ToString("F3", CultureInfo.InvariantCulture)))} " +
            $"(median {paired[paired.Length / 2]:F3}x)   target >= 0.8x");
        Console.WriteLine($"step p99/p50 while cold adapters load: {string.Join(" ", loadRatios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} (per Zipf round)   target <= 2x");
        Console.WriteLine($"  their p99 against the median of all the run's steps: {string.Join(" ", mixed.Select(m => (m.LoadP99 / m.StepP50).ToString("F2", CultureInfo.InvariantCulture)))}");
        // What the loads add, apart from what the steps cost anyway (prefill steps included on both sides): near 1 when
        // a load never holds a step back
        Console.WriteLine($"  their p99 against the p99 of the run's other steps: {string.Join(" ", mixed.Select(m => (m.LoadP99 / m.OtherP99).ToString("F2", CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"(for reference, step p99/p50 of the single-adapter runs: {string.Join(" ", single.Select(s => (s.StepP99 / s.StepP50).ToString("F2", CultureInfo.InvariantCulture)))})");
    }

    internal static string Name(int i) => $"z{i:D4}";

    private static void Row(string label, RunResult x) => Console.WriteLine(
        $"| {label} | {x.TokensPerSecond:F0} | {x.Steps} | {x.StepP50 * 1000:F1} / {x.StepP99 * 1000:F1} | {x.StepP99 / x.StepP50:F2} | {x.LoadSteps} | " +
        (x.LoadSteps == 0 ? "- | - | " : $"{x.LoadP50 * 1000:F1} / {x.LoadP99 * 1000:F1} | {x.LoadP99 / x.LoadP50:F2} | ") +
        $"{x.OtherP50 * 1000:F1} / {x.OtherP99 * 1000:F1} | {x.Loads} | {x.Evictions} | " +
        (x.Loads == 0 ? "- | " : $"{x.LoadTimeP50 * 1000:F1} / {x.LoadTimeP99 * 1000:F1} | ") + $"{x.TtftP50 * 1000:F0} / {x.TtftP90 * 1000:F0} |");

    private static async Task<RunResult> Measure(StepMeters meters, Func<Task<(double TokensPerSecond, double[] Ttft)>> run)
    {
        await meters.WhenNoLoadsAsync();
        meters.Reset();
        var (tps, ttft) = await run();
        var m = meters.Take();
        Array.Sort(ttft);
        return new RunResult(tps, Percentile(m.All, 0.5), Percentile(m.All, 0.99), m.All.Length, m.DuringLoads.Length,
            Percentile(m.DuringLoads, 0.5), Percentile(m.DuringLoads, 0.99), Percentile(m.Other, 0.5), Percentile(m.Other, 0.99), m.Loads, m.Evictions,
            Percentile(m.LoadTimes, 0.5), Percentile(m.LoadTimes, 0.99), Percentile(ttft, 0.5), Percentile(ttft, 0.9),
            m.DecodeOnly.Length, Percentile(m.DecodeOnly, 0.5), Percentile(m.DecodeOnly, 0.99),
            m.DecodeOnlyDuringLoads.Length, Percentile(m.DecodeOnlyDuringLoads, 0.5), Percentile(m.DecodeOnlyDuringLoads, 0.99));
    }

    /// <summary>Streams closed-loop clients; each takes the next request (adapter index) when its last one ends.</summary>
    private static async Task<(double TokensPerSecond, double[] Ttft)> RunAsync(EngineTarget target, int[] adapters, int[] lengths)
    {
        var next = -1;
        var ttft = new double[adapters.Length];
        var generated = 0L;
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Streams).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < adapters.Length)
            {
                var (n, first) = await target.StreamAsync(LoadRunner.Questions[i % LoadRunner.Questions.Length], Name(adapters[i]), lengths[i], Stopwatch.GetTimestamp());
                ttft[i] = first;
                Interlocked.Add(ref generated, n);
            }
        })));
        return (generated / Stopwatch.GetElapsedTime(start).TotalSeconds, ttft);
    }

    /// <summary>n draws of adapter indices 0..count-1 with P(k) proportional to 1/(k+1)^s.</summary>
    internal static int[] ZipfDraw(int count, double s, int n, int seed)
    {
        var cdf = new double[count];
        var sum = 0.0;
        for (var k = 0; k < count; k++) cdf[k] = sum += 1 / Math.Pow(k + 1, s);
        var random = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ =>
        {
            var i = Array.BinarySearch(cdf, random.NextDouble() * sum);
            return Math.Min(i < 0 ? ~i : i, count - 1);
        })];
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1))];

    private sealed record RunResult(double TokensPerSecond, double StepP50, double StepP99, int Steps, int LoadSteps, double LoadP50, double LoadP99,
        double OtherP50, double OtherP99,
        long Loads, long Evictions, double LoadTimeP50, double LoadTimeP99, double TtftP50, double TtftP90,
        int DecodeSteps, double DecodeP50, double DecodeP99, int DecodeLoadSteps, double DecodeLoadP50, double DecodeLoadP99);

    /// <summary>
    /// Reads the engine's step durations and adapter load counters. A step counts as "during loads" when some load
    /// started by the time it was recorded had not finished when the step before it was recorded: that load was in
    /// flight for at least part of the step (loads start in admission, between steps, or from other threads).
    /// </summary>
    private sealed class StepMeters : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly object _gate = new();
        private readonly List<double> _all = [], _duringLoads = [], _otherSteps = [], _loadTimes = [];
        private readonly List<double> _decodeOnly = [], _decodeOnlyDuringLoads = [];
        private int _batchTokens, _batchSequences;
        private long _started, _finished, _finishedAtLastStep, _evictions, _startedBase, _evictionsBase;

        public StepMeters()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == InferenceEngine.MeterName && instrument.Name is "serve.engine.step_duration" or "serve.engine.adapter_loads_started"
                    or "serve.engine.adapter_loads" or "serve.engine.adapter_evictions" or "serve.engine.adapter_load_duration"
                    or "serve.engine.batch_tokens" or "serve.engine.batch_sequences")
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<double>(OnDouble);
            _listener.SetMeasurementEventCallback<long>(OnLong);
            _listener.SetMeasurementEventCallback<int>(OnInt);
            _listener.Start();
        }

        private void OnDouble(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            lock (_gate)
            {
                if (instrument.Name == "serve.engine.adapter_load_duration")
                {
                    _loadTimes.Add(value);
                    return;
                }
                _all.Add(value);
                var duringLoads = _started > _finishedAtLastStep;
                (duringLoads ? _duringLoads : _otherSteps).Add(value);
                // a step with no prompt tokens (one token per sequence): what a cold load could slow down, apart
                // from the cost of new prompts arriving
                if (_batchTokens == _batchSequences)
                {
                    _decodeOnly.Add(value);
                    if (duringLoads) _decodeOnlyDuringLoads.Add(value);
                }
                _batchTokens = _batchSequences = -1;
                _finishedAtLastStep = _finished;
            }
        }

        private void OnInt(Instrument instrument, int value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            lock (_gate)
            {
                if (instrument.Name == "serve.engine.batch_tokens") _batchTokens = value;
                else _batchSequences = value;
            }
        }

        private void OnLong(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            lock (_gate)
            {
                switch (instrument.Name)
                {
                    case "serve.engine.adapter_loads_started": _started += value; break;
                    case "serve.engine.adapter_loads": _finished += value; break;
                    case "serve.engine.adapter_evictions": _evictions += value; break;
                }
            }
        }

        public void Reset()
        {
            lock (_gate)
            {
                _all.Clear();
                _duringLoads.Clear();
                _otherSteps.Clear();
                _loadTimes.Clear();
                _decodeOnly.Clear();
                _decodeOnlyDuringLoads.Clear();
                _startedBase = _started;
                _finishedAtLastStep = _finished;
                _evictionsBase = _evictions;
            }
        }

        public (double[] All, double[] DuringLoads, double[] Other, double[] LoadTimes, long Loads, long Evictions, double[] DecodeOnly, double[] DecodeOnlyDuringLoads) Take()
        {
            lock (_gate)
                return ([.. _all.Order()], [.. _duringLoads.Order()], [.. _otherSteps.Order()], [.. _loadTimes.Order()], _started - _startedBase, _evictions - _evictionsBase,
                    [.. _decodeOnly.Order()], [.. _decodeOnlyDuringLoads.Order()]);
        }

        /// <summary>Waits (bounded) until no load is in flight: a load counts as finished just after its adapter is ready.</summary>
        public async Task WhenNoLoadsAsync()
        {
            for (var i = 0; i < 500; i++)
            {
                lock (_gate) if (_started == _finished) return;
                await Task.Delay(10);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
