using System.Text;
using System.Text.Json;
using Serve.Server.OpenAi;

namespace Serve.Server.Grammar;

/// <summary>
/// Size limits on a response_format schema, checked before it is converted to a grammar: its JSON text, and its enum
/// and const values all together (each becomes an alternative the grammar checks every token against).
/// </summary>
internal static class SchemaLimits
{
    private const string Param = "response_format.json_schema.schema";

    public static void Check(JsonElement schema, int maxBytes, int maxEnumValues)
    {
        var bytes = Encoding.UTF8.GetByteCount(schema.GetRawText());
        if (bytes > maxBytes)
            throw OpenAiException.BadRequest($"The JSON schema is {bytes} bytes; this server allows at most {maxBytes}.", Param, "schema_too_large");
        var values = CountValues(schema);
        if (values > maxEnumValues)
            throw OpenAiException.BadRequest($"The JSON schema has {values} enum and const values; this server allows at most {maxEnumValues} in all.", Param, "schema_too_large");
    }

    /// <summary>Enum entries and consts anywhere in the schema (the document is already depth-limited by the parser).</summary>
    private static int CountValues(JsonElement element)
    {
        var count = 0;
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.NameEquals("enum") && property.Value.ValueKind == JsonValueKind.Array) count += property.Value.GetArrayLength();
                else if (property.NameEquals("const")) count++;
                else count += CountValues(property.Value);
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray()) count += CountValues(item);
        }
        return count;
    }
}
