namespace Serve.LoadTest.Simulations;

/// <summary>How a run is carried out, beyond what the scenario file says.</summary>
public sealed record RunOptions
{
    /// <summary>Replaces the file's target.baseUrl.</summary>
    public string? BaseUrl { get; init; }

    /// <summary>Replaces the file's target.apiKey.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Where reports go; null writes none.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Loopback targets only unless this is set (the --allow-remote flag).</summary>
    public bool AllowRemote { get; init; }

    /// <summary>Live progress and the final table; null keeps quiet.</summary>
    public TextWriter? Console { get; init; }

    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(1);
}
