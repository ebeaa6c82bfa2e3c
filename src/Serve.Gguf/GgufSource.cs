using Microsoft.Win32.SafeHandles;

namespace Serve.Gguf;

/// <summary>Random-access bytes of one GGUF file; offsets are relative to the file's first byte ("GGUF").</summary>
internal abstract class GgufSource : IDisposable
{
    public abstract long Length { get; }

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; a short read means the file changed under us.</summary>
    public abstract void ReadExactly(long offset, Span<byte> destination);

    public abstract void Dispose();

    protected static GgufFormatException Truncated(long offset) =>
        new("Unexpected end of data: the file is shorter than it was when opened", offset);
}

/// <summary>Positional reads on a file handle: thread-safe, no shared stream position.</summary>
internal sealed class FileSource(SafeFileHandle handle) : GgufSource
{
    public override long Length { get; } = RandomAccess.GetLength(handle);

    public override void ReadExactly(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(handle, destination, offset);
            if (n <= 0) throw Truncated(offset);
            destination = destination[n..];
            offset += n;
        }
    }

    public override void Dispose() => handle.Dispose();
}

/// <summary>A seekable stream shared by locking; the GGUF starts at the stream's position when opened.</summary>
internal sealed class StreamSource : GgufSource
{
    private readonly Stream _stream;
    private readonly long _base;
    private readonly bool _leaveOpen;
    private readonly Lock _gate = new();

    public StreamSource(Stream stream, bool leaveOpen)
    {
        _stream = stream;
        _base = stream.Position;
        _leaveOpen = leaveOpen;
        Length = Math.Max(0, stream.Length - _base);
    }

    public override long Length { get; }

    public override void ReadExactly(long offset, Span<byte> destination)
    {
        lock (_gate)
        {
            _stream.Position = _base + offset;
            try
            {
                _stream.ReadExactly(destination);
            }
            catch (EndOfStreamException e)
            {
                throw new GgufFormatException("Unexpected end of stream", offset, e);
            }
        }
    }

    public override void Dispose()
    {
        if (!_leaveOpen) _stream.Dispose();
    }
}
