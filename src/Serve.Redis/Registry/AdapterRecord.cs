namespace Serve.Redis.Registry;

/// <summary>
/// One published version of an adapter in the shared registry. Location says where its bytes are: "redis" means
/// the blob key <c>serve:adapter-blob:&lt;version&gt;</c>.
/// </summary>
public sealed record AdapterRecord(
    string Name,
    string Version,
    string? BaseModelSha256,
    int Rank,
    float Alpha,
    long SizeBytes,
    DateTimeOffset CreatedUtc,
    string Location)
{
    /// <summary>The record as the registry stores it (snake_case JSON).</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, RegistryJson.Default.AdapterRecord);
}
