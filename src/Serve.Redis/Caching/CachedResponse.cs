using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Serve.Redis.Caching;

/// <summary>
/// A stored response: the exact body bytes (a JSON document, or a whole SSE stream to replay) and its content
/// type. Serialised with a magic, lengths and a SHA-256 over all of it, so a truncated, partially written or
/// foreign value is recognised and never served.
/// </summary>
public sealed record CachedResponse(string ContentType, byte[] Body, DateTimeOffset CreatedUtc)
{
    private static ReadOnlySpan<byte> Magic => "SRC1"u8;
    private const int HashLength = 32;

    public byte[] Serialize()
    {
        var type = Encoding.UTF8.GetBytes(ContentType);
        var length = Magic.Length + 8 + 4 + type.Length + 4 + Body.Length;
        var buffer = new byte[length + HashLength];
        var span = buffer.AsSpan();
        Magic.CopyTo(span);
        var at = Magic.Length;
        BinaryPrimitives.WriteInt64LittleEndian(span[at..], CreatedUtc.ToUnixTimeMilliseconds()); at += 8;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], type.Length); at += 4;
        type.CopyTo(span[at..]); at += type.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], Body.Length); at += 4;
        Body.CopyTo(span[at..]); at += Body.Length;
        SHA256.HashData(span[..at], span[at..]);
        return buffer;
    }

    /// <summary>Null when the bytes are not a complete, intact entry.</summary>
    public static CachedResponse? TryDeserialize(ReadOnlySpan<byte> data)
    {
        if (data.Length < Magic.Length + 8 + 4 + 4 + HashLength || !data.StartsWith(Magic)) return null;
        var content = data[..^HashLength];
        Span<byte> hash = stackalloc byte[HashLength];
        SHA256.HashData(content, hash);
        if (!hash.SequenceEqual(data[^HashLength..])) return null;
        var at = Magic.Length;
        var created = BinaryPrimitives.ReadInt64LittleEndian(content[at..]); at += 8;
        var typeLength = BinaryPrimitives.ReadInt32LittleEndian(content[at..]); at += 4;
        if (typeLength < 0 || at + typeLength + 4 > content.Length) return null;
        var type = Encoding.UTF8.GetString(content.Slice(at, typeLength)); at += typeLength;
        var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(content[at..]); at += 4;
        if (bodyLength < 0 || at + bodyLength != content.Length) return null;
        return new CachedResponse(type, content.Slice(at, bodyLength).ToArray(), DateTimeOffset.FromUnixTimeMilliseconds(created));
    }
}
