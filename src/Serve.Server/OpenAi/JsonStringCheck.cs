using System.Text.Json;

namespace Serve.Server.OpenAi;

/// <summary>
/// JSON may escape a lone UTF-16 surrogate ("\ud800"): the document parses, and reading that string later throws
/// InvalidOperationException far from here (a 500). One pass over the escaped strings of a body refuses it up front.
/// </summary>
internal static class JsonStringCheck
{
    /// <summary>Throws a 400 when a string or property name of the (valid UTF-8, syntactically checked) JSON is not valid UTF-16.</summary>
    public static void RequireValidStrings(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName) || !reader.ValueIsEscaped) continue;
                try
                {
                    reader.GetString();
                }
                catch (InvalidOperationException)
                {
                    throw OpenAiException.BadRequest(
                        "The request body contains a string that is not valid Unicode (an unpaired UTF-16 surrogate escape such as \\ud800).",
                        code: "invalid_json");
                }
            }
        }
        catch (JsonException)
        {
            // Syntax errors are the parser's to report, with its own message.
        }
    }
}
