using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>
/// Kestrel refuses some requests before the application sees them (a request target with %00, a URL over
/// MaxRequestLineSize: 414, headers too large: 431, a malformed request line) and answers with an empty body. This
/// connection middleware gives those answers the OpenAI error body every other error has. It recognises Kestrel's
/// own rejection, written in one piece: a 4xx head with <c>Content-Length: 0</c> and <c>Connection: close</c> and
/// no content type, which the application never produces (its errors always carry a JSON body).
/// </summary>
internal static class KestrelRejectionBodies
{
    public static ConnectionDelegate Use(ConnectionDelegate next) => context =>
    {
        var transport = context.Transport;
        context.Transport = new DuplexPipe(transport.Input, new RejectionBodyWriter(transport.Output));
        return next(context);
    };

    /// <summary>The replacement response for a rejection head, or null when the bytes are not one.</summary>
    internal static byte[]? Rewrite(ReadOnlySpan<byte> written)
    {
        if (written.Length < 16 || written.Length > 1024 || !written.StartsWith("HTTP/1.1 4"u8) || !written.EndsWith("\r\n\r\n"u8)) return null;
        if (written.IndexOf("\r\n\r\n"u8) != written.Length - 4) return null;
        const string emptyLength = "\r\nContent-Length: 0\r\n";
        var head = Encoding.ASCII.GetString(written);
        if (!head.Contains(emptyLength, StringComparison.Ordinal) || !head.Contains("\r\nConnection: close\r\n", StringComparison.Ordinal)
            || head.Contains("\r\nContent-Type:", StringComparison.OrdinalIgnoreCase)) return null;
        if (!int.TryParse(head.AsSpan(9, 3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var status)) return null;
        var (message, code) = status switch
        {
            400 => ("The request could not be read: its request line, URL or headers are malformed.", "bad_request"),
            408 => ("The request took too long to arrive.", "request_timeout"),
            413 => ("The request body is too large.", "request_too_large"),
            414 => ("The request URL is too long.", "url_too_long"),
            431 => ("The request headers are too large.", "headers_too_large"),
            _ => ($"The request was refused with status {status}.", "bad_request"),
        };
        var body = JsonSerializer.SerializeToUtf8Bytes(new OpenAiErrorResponse(new OpenAiError(message, OpenAiErrorTypes.InvalidRequest, null, code)),
            ServeJson.Context.OpenAiErrorResponse);
        var newHead = head.Replace(emptyLength, $"\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n", StringComparison.Ordinal);
        return [.. Encoding.ASCII.GetBytes(newHead), .. body];
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>Passes everything through; looks at each advanced span (no copy) for a rejection head.</summary>
    private sealed class RejectionBodyWriter(PipeWriter inner) : PipeWriter
    {
        private Memory<byte> _memory;

        public override Memory<byte> GetMemory(int sizeHint = 0) => _memory = inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            if (bytes > 0 && bytes <= _memory.Length && Rewrite(_memory.Span[..bytes]) is { } replacement)
            {
                // The head was written into inner's buffer but not committed: write the replacement over it.
                _memory = default;
                inner.Write(replacement);
                return;
            }
            _memory = default;
            inner.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public override void CancelPendingFlush() => inner.CancelPendingFlush();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);
        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;
    }
}
