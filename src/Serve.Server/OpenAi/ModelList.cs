using System.Text.Json.Serialization;

namespace Serve.Server.OpenAi;

/// <summary>GET /v1/models.</summary>
internal sealed record ModelList(IReadOnlyList<ModelCard> Data)
{
    public string Object => "list";
}

/// <summary>A servable model: the base or an adapter (parent and root name the base, as vLLM does).</summary>
internal sealed record ModelCard(
    string Id,
    long Created,
    string OwnedBy,
    string Root,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Parent)
{
    public string Object => "model";
}
