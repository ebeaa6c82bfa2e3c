using System.Buffers;
using System.Text.Json;

namespace Serve.Server.OpenAi;

/// <summary>
/// JSON may escape a lone UTF-16 surrogate ("\ud800"): the document parses, and reading that string later throws
/// InvalidOperationException far from here (a 500). One pass over the body refuses it up front; only strings whose
/// raw text holds a surrogate escape are decoded, so a megabyte of escaped quotes costs a scan, not a copy.
/// </summary>
internal static class JsonStringCheck
{
    /// <summary>Throws a 400 when a string or property name of the (valid UTF-8) JSON is not valid UTF-16.</summary>
    public static void RequireValidStrings(ReadOnlySpan<byte> json)
    {
        if (!MayHoldSurrogateEscape(json)) return;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName) || !reader.ValueIsEscaped) continue;
                if (!MayHoldSurrogateEscape(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan)) continue;
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

    /// <summary>Whether the raw bytes hold "\uD8".."\uDF" in any case (a surrogate escape, paired or not).</summary>
    private static bool MayHoldSurrogateEscape(ReadOnlySpan<byte> raw)
    {
        var at = 0;
        while (at < raw.Length)
        {
            var i = raw[at..].IndexOf("\\u"u8);
            if (i < 0) return false;
            at += i + 2;
            if (at + 1 < raw.Length && raw[at] is (byte)'d' or (byte)'D' && raw[at + 1] is (>= (byte)'8' and <= (byte)'9') or (>= (byte)'a' and <= (byte)'f') or (>= (byte)'A' and <= (byte)'F'))
                return true;
        }
        return false;
    }
}
