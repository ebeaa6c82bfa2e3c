using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Serve.Server.Hosting;

/// <summary>
/// Sets the body limit per request: small for JSON on /v1, large for adapter uploads on /admin. Kestrel enforces it
/// while the body is read (413 through the error middleware).
/// </summary>
internal sealed class RequestSizeMiddleware(RequestDelegate next, IOptionsMonitor<ServerOptions> options)
{
    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false })
        {
            var o = options.CurrentValue;
            feature.MaxRequestBodySize = context.Request.Path.StartsWithSegments("/admin") ? o.MaxAdapterUploadBytes : o.MaxRequestBodyBytes;
        }
        return next(context);
    }
}
