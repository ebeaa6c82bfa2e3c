using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serve.Server.OpenAi;

/// <summary>
/// The serializer the server uses: ServeJsonContext's settings, with non-ASCII and quotes written as themselves
/// (OpenAI sends "don't", not "don\u0027t"; clients and logs read it more easily). Bodies are JSON, never HTML.
/// </summary>
internal static class ServeJson
{
    public static ServeJsonContext Context { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter() },
    });
}
