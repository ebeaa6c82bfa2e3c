using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>
/// Requests per minute per API key (or client address when /v1 is open), in process. This is the seam for a shared
/// limit across replicas: a Redis-backed PartitionedRateLimiter can replace the one built here.
/// </summary>
internal static class RateLimiting
{
    public static void Configure(RateLimiterOptions limiter)
    {
        limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
        {
            var perMinute = context.RequestServices.GetRequiredService<IOptionsMonitor<ServerOptions>>().CurrentValue.RequestsPerMinute;
            if (perMinute is not { } limit || !context.Request.Path.StartsWithSegments("/v1")) return RateLimitPartition.GetNoLimiter("unlimited");
            var key = context.Request.Headers.Authorization.FirstOrDefault() ?? context.Connection.RemoteIpAddress?.ToString() ?? "anonymous";
            return RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = limit,
                Window = TimeSpan.FromMinutes(1),
                QueueLimit = 0,
            });
        });
        limiter.OnRejected = (rejected, cancellationToken) =>
        {
            var retry = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? (int)Math.Ceiling(after.TotalSeconds) : 60;
            var error = new OpenAiException(429, "Rate limit reached for requests. Please try again later.", OpenAiErrorTypes.RateLimit, null, "rate_limit_exceeded")
            {
                RetryAfterSeconds = Math.Max(retry, 1),
            };
            return new ValueTask(OpenAiErrors.WriteAsync(rejected.HttpContext, error));
        };
    }
}
