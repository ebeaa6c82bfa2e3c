namespace Serve.Gguf;

/// <summary>A GGUF file is malformed; <see cref="Offset"/> is the byte position where the problem was found (-1 if unknown).</summary>
public sealed class GgufFormatException : Exception
{
    public GgufFormatException(string message, long offset)
        : base(offset >= 0 ? $"{message} (at byte offset {offset})" : message)
    {
        Offset = offset;
    }

    public GgufFormatException(string message, long offset, Exception inner)
        : base(offset >= 0 ? $"{message} (at byte offset {offset})" : message, inner)
    {
        Offset = offset;
    }

    public long Offset { get; }
}
