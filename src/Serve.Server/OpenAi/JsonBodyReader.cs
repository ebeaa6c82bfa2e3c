using System.Text.Json;
using System.Text.Unicode;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Net.Http.Headers;

namespace Serve.Server.OpenAi;

/// <summary>
/// Reads a JSON request body into a DTO with OpenAI-shaped 4xx errors: wrong content type (415), malformed JSON or
/// invalid UTF-8 (400), a non-object body (400), a field of the wrong type (400 naming the field). A body over
/// the size limit surfaces as Kestrel's 413, mapped by the error middleware.
/// </summary>
internal static class JsonBodyReader
{
    public static async Task<T> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
        where T : class
    {
        if (!IsJson(request.ContentType))
            throw new OpenAiException(415,
                $"Invalid Content-Type header ({(string.IsNullOrEmpty(request.ContentType) ? "none" : request.ContentType)}): send the body as application/json.",
                param: null, code: "unsupported_media_type");
        // Buffered (bodies are small; Kestrel enforces the limit while this reads) so UTF-8 can be checked up front:
        // System.Text.Json only notices invalid UTF-8 inside a string when something transcodes it, far from here.
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        var bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (!Utf8.IsValid(bytes.Span))
            throw OpenAiException.BadRequest("The request body is not valid UTF-8.", code: "invalid_json");
        JsonStringCheck.RequireValidStrings(bytes.Span);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException)
        {
            throw OpenAiException.BadRequest(
                "We could not parse the JSON body of your request. The API expects a JSON payload (UTF-8), but what was sent was not valid JSON.",
                code: "invalid_json");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw OpenAiException.BadRequest($"The request body must be a JSON object, got {Describe(document.RootElement.ValueKind)}.", code: "invalid_json");
            try
            {
                return document.RootElement.Deserialize(typeInfo)
                    ?? throw OpenAiException.BadRequest("The request body must be a JSON object.", code: "invalid_json");
            }
            catch (JsonException e)
            {
                var param = ParamOf(e.Path);
                var expected = ExpectedAt(typeInfo, e.Path);
                throw OpenAiException.BadRequest(
                    expected is null ? $"Invalid type or value for '{param}'." : $"Invalid type for '{param}': expected {expected}.",
                    param, "invalid_type");
            }
        }
    }

    private static bool IsJson(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media)) return false;
        var type = media.MediaType.Value ?? "";
        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>"$.messages[0].role" becomes "messages[0].role", the form OpenAI's param uses.</summary>
    internal static string ParamOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "body";
        var p = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return p.Replace("['", ".", StringComparison.Ordinal).Replace("']", "", StringComparison.Ordinal).TrimStart('.');
    }

    /// <summary>What the DTO expects at a JSON path, in words ("an integer"), walking the source-generated metadata.</summary>
    internal static string? ExpectedAt(JsonTypeInfo root, string? path)
    {
        if (string.IsNullOrEmpty(path)) return null;
        var info = root;
        var i = 1; // skip '$'
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                var end = i + 1;
                while (end < path.Length && path[end] != '.' && path[end] != '[') end++;
                var name = path[(i + 1)..end];
                var property = info.Properties.FirstOrDefault(p => p.Name == name);
                if (property is null) return info.Kind == JsonTypeInfoKind.Dictionary && info.ElementType is { } v ? Words(info.Options.GetTypeInfo(v)) : null;
                info = info.Options.GetTypeInfo(property.PropertyType);
                i = end;
            }
            else if (path[i] == '[')
            {
                var end = path.IndexOf(']', i);
                if (end < 0 || info.ElementType is null) return null;
                info = info.Options.GetTypeInfo(info.ElementType);
                i = end + 1;
            }
            else
            {
                return null;
            }
        }
        return Words(info);
    }

    private static string Words(JsonTypeInfo info)
    {
        var type = Nullable.GetUnderlyingType(info.Type) ?? info.Type;
        if (type == typeof(string)) return "a string";
        if (type == typeof(bool)) return "a boolean";
        if (type == typeof(int) || type == typeof(long)) return "an integer";
        if (type == typeof(float) || type == typeof(double)) return "a number";
        if (type == typeof(JsonElement)) return "a JSON value";
        return info.Kind switch
        {
            JsonTypeInfoKind.Enumerable => "an array",
            JsonTypeInfoKind.Object or JsonTypeInfoKind.Dictionary => "an object",
            _ => "a value of another type",
        };
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
