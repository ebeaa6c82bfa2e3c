using System.Text.Json;

namespace Serve.Redis.Registry;

/// <summary>What goes over the registry's pub/sub channel: Kind is "published" (Version is now current) or "unpublished".</summary>
public sealed record AdapterEvent(string Kind, string Name, string? Version)
{
    /// <summary>The event in a channel message; throws JsonException when the message is not one.</summary>
    public static AdapterEvent Parse(string message) =>
        JsonSerializer.Deserialize(message, RegistryJson.Default.AdapterEvent) ?? throw new JsonException("not an adapter event");
}
