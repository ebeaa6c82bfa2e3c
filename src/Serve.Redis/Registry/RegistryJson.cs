using System.Text.Json.Serialization;

namespace Serve.Redis.Registry;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(AdapterRecord))]
[JsonSerializable(typeof(AdapterEvent))]
internal sealed partial class RegistryJson : JsonSerializerContext;
