using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serve.Cluster;

/// <summary>
/// What one replica heartbeat says: a stable id (the gateway's destination id, so rendezvous hashing keeps each
/// adapter's home when the replica restarts under the same id) and the base URL the gateway forwards to.
/// Stored as JSON, <c>{"id":"replica-1","url":"http://10.0.0.5:8080","started":"2026-11-23T07:00:00+00:00"}</c>.
/// </summary>
public sealed record ReplicaRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("url")] string Url,
    [property: JsonPropertyName("started")] DateTimeOffset Started)
{
    public string ToJson() => JsonSerializer.Serialize(this, ReplicaRecordJson.Default.ReplicaRecord);

    /// <summary>The record, or null when the value is not a well-formed heartbeat (a foreign or half-written key).</summary>
    public static ReplicaRecord? TryParse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json)) return null;
        try
        {
            var record = JsonSerializer.Deserialize(json, ReplicaRecordJson.Default.ReplicaRecord);
            return record is { Id.Length: > 0, Url.Length: > 0 } && Uri.TryCreate(record.Url, UriKind.Absolute, out var uri)
                && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                ? record
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
