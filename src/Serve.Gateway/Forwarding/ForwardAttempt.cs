namespace Serve.Gateway.Forwarding;

/// <summary>Which attempt of a request is being forwarded (0 = first), set by <see cref="ConnectRetryMiddleware"/>.</summary>
internal sealed class ForwardAttempt
{
    public int Number { get; set; }
}
