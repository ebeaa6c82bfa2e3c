namespace Serve.LoadTest.Scenarios;

/// <summary>Where requests go and how they are sent.</summary>
public sealed record TargetSpec
{
    /// <summary>Base URL of an OpenAI-compatible server, without the /v1 suffix.</summary>
    public string BaseUrl { get; init; } = "http://127.0.0.1:8080";

    /// <summary>Bearer key; "env:NAME" reads it from an environment variable.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Response header that marks a response-cache hit, and the value that means hit.</summary>
    public string CacheHeader { get; init; } = "X-Serve-Cache";
    public string CacheHitValue { get; init; } = "hit";

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public int MaxConnections { get; init; } = 4096;
}
