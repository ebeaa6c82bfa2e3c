using System.ComponentModel.DataAnnotations;

namespace Serve.Server.Caching;

/// <summary>
/// The response cache of deterministic requests (section "Serve:Cache"). An in-process level always runs; with
/// Serve:Redis set a shared Redis level sits behind it.
/// </summary>
public sealed class ResponseCacheOptions
{
    public const string Section = "Serve:Cache";

    public bool Enabled { get; set; } = true;

    /// <summary>How long an entry lives in the shared (Redis) level, or in memory without Redis.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a replica keeps an entry in its memory level in front of Redis (never longer than TimeToLive).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan LocalTimeToLive { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Byte budget of the memory level; least recently used entries go first.</summary>
    [Range(0, long.MaxValue)]
    public long MaxMemoryBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Largest response body cached (a longer one is served and not stored).</summary>
    [Range(1, int.MaxValue)]
    public int MaxEntryBytes { get; set; } = 1024 * 1024;
}
