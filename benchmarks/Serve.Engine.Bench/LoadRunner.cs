using System.Diagnostics;

namespace Serve.Engine.Bench;

/// <summary>Runs concurrent greedy streams through a target and measures aggregate output tok/s and TTFT.</summary>
internal sealed class LoadRunner(IStreamTarget target, int tokens)
{
    internal static readonly string[] Questions =
    [
        "Where is the market?", "How do the seasons change?", "Tell me a short story.", "What does this error mean?",
        "Count to five.", "Describe the river.", "Why do we learn?", "Write a letter to a friend.",
    ];

    public async Task<LoadResult> RunAsync(Func<int, string?> adapterFor, int streams)
    {
        var start = Stopwatch.GetTimestamp();
        var results = await Task.WhenAll(Enumerable.Range(0, streams).Select(i => Task.Run(() => target.StreamAsync(Questions[i % Questions.Length], adapterFor(i), tokens, start))));
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var ttft = results.Select(r => r.Ttft).Order().ToArray();
        return new LoadResult(results.Sum(r => r.Tokens) / elapsed, Percentile(ttft, 0.5), Percentile(ttft, 0.9));
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}

internal sealed record LoadResult(double TokensPerSecond, double TtftP50, double TtftP90)
{
    public static LoadResult Best(LoadResult? a, LoadResult b) => a is null || b.TokensPerSecond > a.TokensPerSecond ? b : a;
}
