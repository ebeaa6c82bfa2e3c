namespace Serve.LoadTest.Client;

/// <summary>What one request measured. Times are microseconds from when the request was sent.</summary>
public sealed class RequestOutcome
{
    public bool Ok { get; set; }

    /// <summary>HTTP status, or 0 when no response arrived (connection refused, timeout, ...).</summary>
    public int Status { get; set; }

    public string? ErrorKind { get; set; }
    public string? ErrorMessage { get; set; }

    /// <summary>Time to the first chunk with content (streaming only).</summary>
    public long? TtftUs { get; set; }

    public long E2eUs { get; set; }

    /// <summary>Gaps between consecutive content chunks (streaming only).</summary>
    public List<long>? ItlUs { get; set; }

    /// <summary>Chunks that carried content: the token count when the server sends no usage.</summary>
    public int ContentChunks { get; set; }

    public int? UsagePromptTokens { get; set; }
    public int? UsageCompletionTokens { get; set; }

    public bool CacheHit { get; set; }
    public double? RetryAfterSeconds { get; set; }

    /// <summary>Sends repeated because the server closed a reused connection before answering (at most one).</summary>
    public int Retries { get; set; }

    public int OutputTokens => UsageCompletionTokens ?? ContentChunks;

    /// <summary>Time per output token after the first: (E2E - TTFT) / (tokens - 1).</summary>
    public double? TpotUs => TtftUs is { } t && OutputTokens > 1 ? (double)(E2eUs - t) / (OutputTokens - 1) : null;
}
