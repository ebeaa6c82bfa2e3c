using Serve.Server.OpenAi;

namespace Serve.Server.Admin;

/// <summary>
/// A multipart file part as read by the catalog: the reader reports a body that ends before its closing boundary as
/// an IOException, which is the client's malformed request (400), not a server failure. Body size limits (413) and
/// a client that left pass through unchanged.
/// </summary>
internal sealed class MultipartPartStream(Stream inner, CancellationToken requestAborted) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        try
        {
            return inner.Read(buffer, offset, count);
        }
        catch (Exception e) when (IsMalformed(e))
        {
            throw Malformed(e);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsMalformed(e))
        {
            throw Malformed(e);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private bool IsMalformed(Exception e) =>
        e is InvalidDataException or IOException and not BadHttpRequestException && !requestAborted.IsCancellationRequested;

    private static OpenAiException Malformed(Exception e) =>
        OpenAiException.BadRequest("The multipart body is malformed: " + e.Message, "file", "invalid_multipart");

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
