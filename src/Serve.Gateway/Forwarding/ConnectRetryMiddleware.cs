using Microsoft.Extensions.Options;
using Serve.Gateway.Hosting;
using Serve.Gateway.Metrics;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Serve.Gateway.Forwarding;

/// <summary>
/// Wraps load balancing and forwarding. When connecting to the chosen replica fails (nothing was sent, no response
/// byte written) the request is safe to resend, so it goes again to the next replica the policy picks among those
/// not tried yet. Gateway-side failures that reach the client get OpenAI-shaped bodies; the replica's answer is
/// also named in the x-serve-replica response header.
/// </summary>
internal sealed class ConnectRetryMiddleware
{
    public const string ReplicaHeader = "x-serve-replica";

    private readonly RequestDelegate _next;
    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger<ConnectRetryMiddleware> _logger;

    public ConnectRetryMiddleware(RequestDelegate next, IOptionsMonitor<GatewayOptions> options, GatewayMetrics metrics, ILogger<ConnectRetryMiddleware> logger)
    {
        _next = next;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var candidates = proxy.AvailableDestinations;
        var attempt = new ForwardAttempt();
        context.Features.Set(attempt);
        context.Response.OnStarting(static state =>
        {
            var (context, proxy) = ((HttpContext, Yarp.ReverseProxy.Model.IReverseProxyFeature))state;
            if (proxy.ProxiedDestination is { } destination) context.Response.Headers[ReplicaHeader] = destination.DestinationId;
            return Task.CompletedTask;
        }, (context, proxy));

        var tried = new List<DestinationState>();
        var maxAttempts = _options.CurrentValue.MaxConnectAttempts;
        while (true)
        {
            await _next(context).ConfigureAwait(false);
            var error = context.Features.Get<IForwarderErrorFeature>();
            if (error is null || context.Response.HasStarted) return;

            if (IsConnectFailure(error) && proxy.ProxiedDestination is { } failed && context.Request.Body.CanSeek)
            {
                tried.Add(failed);
                var remaining = candidates.Where(d => !tried.Contains(d)).ToArray();
                if (remaining.Length > 0 && tried.Count < maxAttempts)
                {
                    _metrics.Retried(failed.DestinationId);
                    _logger.LogInformation("Connecting to replica {Replica} failed ({Message}); retrying on another", failed.DestinationId, error.Exception?.Message);
                    context.Features.Set<IForwarderErrorFeature>(null);
                    context.Response.Clear();
                    context.Request.Body.Position = 0;
                    proxy.AvailableDestinations = remaining;
                    proxy.ProxiedDestination = null;
                    attempt.Number++;
                    continue;
                }
            }

            await WriteErrorAsync(context, error).ConfigureAwait(false);
            return;
        }
    }

    /// <summary>Connection refused, unreachable or unresolvable: the request never reached a replica.</summary>
    internal static bool IsConnectFailure(IForwarderErrorFeature error) =>
        error.Error == ForwarderError.Request
        && error.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError };

    private Task WriteErrorAsync(HttpContext context, IForwarderErrorFeature error)
    {
        var (status, message, code) = error.Error switch
        {
            ForwarderError.NoAvailableDestinations => (StatusCodes.Status503ServiceUnavailable, "No healthy replica is available to serve this request. Retry shortly.", "no_healthy_replica"),
            ForwarderError.RequestTimedOut => (StatusCodes.Status504GatewayTimeout, "The replica did not answer in time.", "upstream_timeout"),
            ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
                => (StatusCodes.Status400BadRequest, "The request was cancelled or its body could not be read.", "request_aborted"),
            _ when IsConnectFailure(error) => (StatusCodes.Status502BadGateway, "No replica could be reached for this request.", "upstream_unreachable"),
            _ => (StatusCodes.Status502BadGateway, "The replica failed to answer this request.", "upstream_error"),
        };
        _metrics.Error(status, code);
        // A client that went away gets nothing; the status is only for the access log.
        if (context.RequestAborted.IsCancellationRequested)
        {
            context.Response.StatusCode = status;
            return Task.CompletedTask;
        }
        return GatewayErrors.WriteAsync(context, status, message, status < 500 ? GatewayErrors.InvalidRequest : GatewayErrors.Server, code);
    }
}
