using Serve.LoadTest.Mock;

namespace Serve.LoadTest.Tests;

/// <summary>The endpoint a test loads: the built-in mock on a free loopback port, or a real server when
/// SERVE_LOADTEST_BASE_URL is set (then only the checks that hold for any OpenAI-compatible server apply:
/// <see cref="IsMock"/> says which).</summary>
internal sealed class LiveTarget : IAsyncDisposable
{
    private readonly MockOpenAiServer? _mock;

    private LiveTarget(MockOpenAiServer? mock, string baseUrl)
    {
        _mock = mock;
        BaseUrl = baseUrl;
    }

    public string BaseUrl { get; }
    public bool IsMock => _mock is not null;
    public MockOpenAiServer Mock => _mock ?? throw new InvalidOperationException("not a mock target");

    /// <summary>Adapter names to use: the mock's "a", "b", ... or, for a real server, the first
    /// <paramref name="count"/> names in SERVE_LOADTEST_ADAPTERS (comma-separated).</summary>
    public string[] Adapters(int count)
    {
        var names = IsMock ? null : Environment.GetEnvironmentVariable("SERVE_LOADTEST_ADAPTERS")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names is null || names.Length < count) names = Enumerable.Range(0, count).Select(i => ((char)('a' + i)).ToString()).ToArray();
        return names[..count];
    }

    public static async Task<LiveTarget> StartAsync(MockServerOptions options, bool allowReal = true)
    {
        var real = Environment.GetEnvironmentVariable("SERVE_LOADTEST_BASE_URL");
        if (allowReal && !string.IsNullOrEmpty(real)) return new LiveTarget(null, real.TrimEnd('/'));
        var mock = await MockOpenAiServer.StartAsync(options);
        return new LiveTarget(mock, mock.BaseUrl);
    }

    public async ValueTask DisposeAsync()
    {
        if (_mock is not null) await _mock.DisposeAsync();
    }
}
