using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Serve.Server.Grammar;

/// <summary>
/// Turns a JSON Schema into a llama.cpp GBNF grammar whose every sentence is a JSON document valid against the
/// schema, so response_format json_schema output is valid by construction. Supported: type (one or a list),
/// properties/required/additionalProperties, items/minItems/maxItems, minLength/maxLength, enum, const,
/// anyOf/oneOf, allOf with one member, local $ref (#/$defs, #/definitions), nullable; annotations (title,
/// description, format, default, examples, ...) are ignored. Keywords that constrain values in ways a grammar
/// here does not enforce (pattern, minimum, multipleOf, not, ...) are refused with JsonSchemaNotSupportedException
/// rather than silently producing output that may violate the schema.
/// </summary>
internal sealed class JsonSchemaToGbnf
{
    /// <summary>Bounded whitespace: a small model could otherwise spend all its tokens on indentation.</summary>
    private const string Ws = "ws";

    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "$schema", "$id", "$comment", "title", "description", "default", "examples", "format", "readOnly",
        "writeOnly", "deprecated", "strict", "contentEncoding", "contentMediaType",
    };

    private static readonly HashSet<string> Understood = new(StringComparer.Ordinal)
    {
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength",
        "maxLength", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "nullable",
    };

    private static readonly JsonWriterOptions CompactWriter = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly Dictionary<string, string> _rules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _refRules = new(StringComparer.Ordinal);
    private JsonElement _root;

    private JsonSchemaToGbnf(JsonElement root)
    {
        _root = root;
        _rules[Ws] = "( \" \" | \"\\n\" [ \\t]{0,8} )?";
    }

    /// <summary>A grammar for any JSON object (response_format json_object).</summary>
    public static string AnyObject()
    {
        var converter = new JsonSchemaToGbnf(default);
        converter._rules["root"] = converter.AnyValue(objectOnly: true);
        return converter.Render();
    }

    /// <summary>The grammar for a schema; root rule "root". Throws JsonSchemaNotSupportedException.</summary>
    public static string Convert(JsonElement schema)
    {
        var converter = new JsonSchemaToGbnf(schema);
        var body = converter.Visit(schema, "", "root");
        converter._rules["root"] = body;
        return converter.Render();
    }

    /// <summary>
    /// The grammar of tool calls in Serve.Templates.GenericToolFormat: each call is
    /// <c>&lt;tool_call&gt;{"name": "f", "arguments": ARGS}&lt;/tool_call&gt;</c> where ARGS follows f's parameters schema
    /// (any object when it has none). parallel allows several calls in a row; allowText lets the model answer with
    /// text instead, any text that does not start with '&lt;' (and with no tools, only such text). Throws
    /// JsonSchemaNotSupportedException for a schema it cannot enforce.
    /// </summary>
    public static string ToolCalls(IReadOnlyList<(string Name, JsonElement? Parameters)> tools, bool allowText, bool parallel)
    {
        var converter = new JsonSchemaToGbnf(default);
        var calls = new List<string>(tools.Count);
        for (var i = 0; i < tools.Count; i++)
        {
            var (name, parameters) = tools[i];
            string arguments;
            if (parameters is { } schema)
            {
                converter._root = schema;
                converter._refRules.Clear();
                arguments = converter.Visit(schema, "", $"tool{i}-arguments");
            }
            else arguments = converter.AnyValue(objectOnly: true);
            calls.Add($"{Quote("<tool_call>{\"name\": " + JsonText(w => w.WriteStringValue(name)) + ", \"arguments\": ")} {arguments} {Quote("}</tool_call>")}");
        }
        var alternatives = new List<string>();
        if (calls.Count > 0)
        {
            converter._rules["tool-call"] = Group(calls);
            alternatives.Add(parallel ? "tool-call ( \"\\n\"? tool-call )*" : "tool-call");
        }
        if (allowText)
        {
            converter._rules["text"] = "( [^<] .* )?";
            alternatives.Add("text");
        }
        if (alternatives.Count == 0) throw new ArgumentException("No tools and no text: the grammar would allow nothing.", nameof(tools));
        converter._rules["root"] = alternatives.Count == 1 ? alternatives[0] : $"( {alternatives[0]} | {alternatives[1]} )";
        return converter.Render();
    }

    private string Render()
    {
        var sb = new StringBuilder();
        sb.Append("root ::= ").Append(_rules["root"]).Append('\n');
        foreach (var (name, body) in _rules.Where(r => r.Key != "root").OrderBy(r => r.Key, StringComparer.Ordinal))
            sb.Append(name).Append(" ::= ").Append(body).Append('\n');
        return sb.ToString();
    }

    /// <summary>Returns a GBNF expression matching the schema at pointer (adding the rules it needs).</summary>
    private string Visit(JsonElement schema, string pointer, string hint)
    {
        if (schema.ValueKind == JsonValueKind.True) return AnyValue(objectOnly: false);
        if (schema.ValueKind == JsonValueKind.False)
            throw new JsonSchemaNotSupportedException("The schema 'false' allows no value", pointer);
        if (schema.ValueKind != JsonValueKind.Object)
            throw new JsonSchemaNotSupportedException($"A schema must be an object or a boolean, got {schema.ValueKind}", pointer);

        foreach (var property in schema.EnumerateObject())
        {
            if (Understood.Contains(property.Name) || Annotations.Contains(property.Name) || property.Name.StartsWith("x-", StringComparison.Ordinal)) continue;
            throw new JsonSchemaNotSupportedException($"The keyword '{property.Name}' is not supported in response_format schemas", Join(pointer, property.Name));
        }

        var nullable = schema.TryGetProperty("nullable", out var n) && n.ValueKind == JsonValueKind.True;
        var expression = VisitNonNull(schema, pointer, hint);
        return nullable ? $"( {expression} | {Primitive("null")} )" : expression;
    }

    private string VisitNonNull(JsonElement schema, string pointer, string hint)
    {
        if (schema.TryGetProperty("$ref", out var reference)) return Reference(reference, Join(pointer, "$ref"));
        if (schema.TryGetProperty("const", out var constant)) return Literal(constant);
        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
                throw new JsonSchemaNotSupportedException("'enum' must be a non-empty array", Join(pointer, "enum"));
            return Group(values.EnumerateArray().Select(Literal));
        }
        foreach (var keyword in new[] { "anyOf", "oneOf" })
        {
            if (!schema.TryGetProperty(keyword, out var options)) continue;
            if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0)
                throw new JsonSchemaNotSupportedException($"'{keyword}' must be a non-empty array", Join(pointer, keyword));
            // oneOf is generated as anyOf: alternatives a grammar cannot tell apart are rare in response schemas.
            return Group(options.EnumerateArray().Select((s, i) => Visit(s, Join(Join(pointer, keyword), i.ToString(CultureInfo.InvariantCulture)), $"{hint}-{i}")));
        }
        if (schema.TryGetProperty("allOf", out var all))
        {
            if (all.ValueKind != JsonValueKind.Array || all.GetArrayLength() != 1)
                throw new JsonSchemaNotSupportedException("'allOf' is supported with exactly one schema", Join(pointer, "allOf"));
            return Visit(all[0], Join(Join(pointer, "allOf"), "0"), hint);
        }

        if (schema.TryGetProperty("type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String) return Typed(schema, type.GetString()!, pointer, hint);
            if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0)
            {
                return Group(type.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String
                    ? Typed(schema, t.GetString()!, pointer, hint)
                    : throw new JsonSchemaNotSupportedException("'type' entries must be strings", Join(pointer, "type"))));
            }
            throw new JsonSchemaNotSupportedException("'type' must be a string or an array of strings", Join(pointer, "type"));
        }
        if (schema.TryGetProperty("properties", out _) || schema.TryGetProperty("required", out _)) return Typed(schema, "object", pointer, hint);
        if (schema.TryGetProperty("items", out _)) return Typed(schema, "array", pointer, hint);
        return AnyValue(objectOnly: false);
    }

    private string Typed(JsonElement schema, string type, string pointer, string hint) => type switch
    {
        "object" => Object(schema, pointer, hint),
        "array" => Array(schema, pointer, hint),
        "string" => String(schema, pointer, hint),
        "integer" or "number" or "boolean" or "null" => Primitive(type),
        _ => throw new JsonSchemaNotSupportedException($"Unknown type '{type}'", Join(pointer, "type")),
    };

    private string Object(JsonElement schema, string pointer, string hint)
    {
        var properties = new List<(string Name, string Value, bool Required)>();
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array)
                throw new JsonSchemaNotSupportedException("'required' must be an array of property names", Join(pointer, "required"));
            foreach (var r in req.EnumerateArray())
            {
                if (r.ValueKind != JsonValueKind.String)
                    throw new JsonSchemaNotSupportedException("'required' must be an array of property names", Join(pointer, "required"));
                required.Add(r.GetString()!);
            }
        }
        var hasProperties = schema.TryGetProperty("properties", out var props);
        if (hasProperties)
        {
            if (props.ValueKind != JsonValueKind.Object)
                throw new JsonSchemaNotSupportedException("'properties' must be an object", Join(pointer, "properties"));
            foreach (var p in props.EnumerateObject())
            {
                var value = Visit(p.Value, Join(Join(pointer, "properties"), p.Name), $"{hint}-{p.Name}");
                properties.Add((p.Name, value, required.Contains(p.Name)));
            }
        }
        foreach (var name in required)
        {
            if (!properties.Any(p => p.Name == name))
                throw new JsonSchemaNotSupportedException($"'{name}' is required but not described in 'properties'", Join(pointer, "required"));
        }

        var name0 = NewRule(hint);
        if (!hasProperties)
        {
            // No declared properties: a map whose values follow additionalProperties (any value when absent or true).
            var valueSchema = schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.Object
                ? Visit(additional, Join(pointer, "additionalProperties"), $"{hint}-value")
                : AnyValue(objectOnly: false);
            if (schema.TryGetProperty("additionalProperties", out var no) && no.ValueKind == JsonValueKind.False)
                return Reserve(name0, $"\"{{\" {Ws} \"}}\"");
            var kv = $"{Primitive("string")} {Ws} \":\" {Ws} {valueSchema}";
            return Reserve(name0, $"\"{{\" {Ws} ( {kv} ( {Ws} \",\" {Ws} {kv} )* )? {Ws} \"}}\"");
        }

        // Declared properties in order; each optional one may be left out. rest(i, first) emits properties i.. with a
        // leading comma unless nothing was emitted before, so commas are always right with any subset.
        var rest = new string[properties.Count + 1, 2];
        for (var i = properties.Count; i >= 0; i--)
        {
            for (var first = 0; first < 2; first++)
            {
                if (i == properties.Count) { rest[i, first] = ""; continue; }
                var (prop, value, isRequired) = properties[i];
                var comma = first == 1 ? "" : $"{Ws} \",\" {Ws} ";
                var emit = $"{comma}{Literal(prop)} {Ws} \":\" {Ws} {value}{Tail(rest[i + 1, 0])}";
                string body;
                if (isRequired) body = emit;
                else if (rest[i + 1, first].Length == 0) body = $"( {emit} )?";
                else body = $"( {emit} | {rest[i + 1, first]} )";
                // Name the optional-chain steps so the grammar stays linear in the number of properties.
                rest[i, first] = isRequired ? body : Reserve(NewRule($"{hint}-{i}{(first == 1 ? "-first" : "")}"), body);
            }
        }
        var inner = rest[0, 1];
        return Reserve(name0, $"\"{{\" {Ws}{(inner.Length == 0 ? "" : " " + inner)} {Ws} \"}}\"");
    }

    private static string Tail(string rest) => rest.Length == 0 ? "" : " " + rest;

    private string Array(JsonElement schema, string pointer, string hint)
    {
        var item = schema.TryGetProperty("items", out var items)
            ? items.ValueKind == JsonValueKind.Array
                ? throw new JsonSchemaNotSupportedException("Tuple 'items' (an array of schemas) is not supported", Join(pointer, "items"))
                : Visit(items, Join(pointer, "items"), $"{hint}-item")
            : AnyValue(objectOnly: false);
        var min = Count(schema, "minItems", pointer) ?? 0;
        var max = Count(schema, "maxItems", pointer);
        if (max < min) throw new JsonSchemaNotSupportedException("maxItems is smaller than minItems", Join(pointer, "maxItems"));
        var name = NewRule(hint);
        if (max == 0) return Reserve(name, $"\"[\" {Ws} \"]\"");
        var more = $"( {Ws} \",\" {Ws} {item} )";
        var tailMin = Math.Max(min - 1, 0);
        var repeat = max is { } m ? $"{{{tailMin},{m - 1}}}" : $"{{{tailMin},}}";
        var list = $"{item} {more}{repeat}";
        return Reserve(name, min == 0 ? $"\"[\" {Ws} ( {list} )? {Ws} \"]\"" : $"\"[\" {Ws} {list} {Ws} \"]\"");
    }

    private string String(JsonElement schema, string pointer, string hint)
    {
        var min = Count(schema, "minLength", pointer);
        var max = Count(schema, "maxLength", pointer);
        if (min is null && max is null) return Primitive("string");
        if (max < min) throw new JsonSchemaNotSupportedException("maxLength is smaller than minLength", Join(pointer, "maxLength"));
        Primitive("string"); // defines char
        var repeat = max is { } m ? $"{{{min ?? 0},{m}}}" : $"{{{min ?? 0},}}";
        return Reserve(NewRule(hint), $"\"\\\"\" char{repeat} \"\\\"\"");
    }

    private static int? Count(JsonElement schema, string keyword, string pointer)
    {
        if (!schema.TryGetProperty(keyword, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var count) || count < 0)
            throw new JsonSchemaNotSupportedException($"'{keyword}' must be a non-negative integer", Join(pointer, keyword));
        if (count > 10_000) throw new JsonSchemaNotSupportedException($"'{keyword}' above 10000 is not supported", Join(pointer, keyword));
        return count;
    }

    private string Reference(JsonElement reference, string pointer)
    {
        if (reference.ValueKind != JsonValueKind.String)
            throw new JsonSchemaNotSupportedException("'$ref' must be a string", pointer);
        var target = reference.GetString()!;
        if (_refRules.TryGetValue(target, out var known)) return known;
        if (target != "#" && !target.StartsWith("#/", StringComparison.Ordinal))
            throw new JsonSchemaNotSupportedException($"Only local references (#/...) are supported, got '{target}'", pointer);
        var node = _root;
        foreach (var raw in target.Length <= 2 ? [] : target[2..].Split('/'))
        {
            var segment = Uri.UnescapeDataString(raw).Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(segment, out node))
                throw new JsonSchemaNotSupportedException($"The reference '{target}' points to nothing", pointer);
        }
        // Name the rule before visiting so a recursive schema refers back to it instead of looping.
        var name = NewRule("ref-" + (target.Length <= 2 ? "root" : target[(target.LastIndexOf('/') + 1)..]));
        _refRules[target] = name;
        _rules[name] = "";
        _rules[name] = Visit(node, target[1..], name);
        return name;
    }

    /// <summary>A JSON value (or object) of any shape.</summary>
    private string AnyValue(bool objectOnly)
    {
        if (!_rules.ContainsKey("value"))
        {
            _rules["value"] = $"( object | array | {Primitive("string")} | {Primitive("number")} | {Primitive("boolean")} | {Primitive("null")} )";
            _rules["object"] = $"\"{{\" {Ws} ( string {Ws} \":\" {Ws} value ( {Ws} \",\" {Ws} string {Ws} \":\" {Ws} value )* )? {Ws} \"}}\"";
            _rules["array"] = $"\"[\" {Ws} ( value ( {Ws} \",\" {Ws} value )* )? {Ws} \"]\"";
        }
        return objectOnly ? "object" : "value";
    }

    private string Primitive(string type)
    {
        switch (type)
        {
            case "string":
                _rules["char"] = "[^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )";
                _rules["string"] = "\"\\\"\" char* \"\\\"\"";
                return "string";
            case "integer":
                _rules["integer"] = "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} )";
                return "integer";
            case "number":
                _rules["number"] = "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?";
                return "number";
            case "boolean":
                _rules["boolean"] = "( \"true\" | \"false\" )";
                return "boolean";
            default:
                _rules["null"] = "\"null\"";
                return "null";
        }
    }

    /// <summary>The exact JSON text of a value (compact, non-ASCII kept) as a GBNF literal.</summary>
    private static string Literal(JsonElement value) => Quote(JsonText(w => value.WriteTo(w)));

    /// <summary>A property name as its JSON string, quoted for GBNF.</summary>
    private static string Literal(string name) => Quote(JsonText(w => w.WriteStringValue(name)));

    private static string JsonText(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, CompactWriter)) write(writer);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static string Quote(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in text)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ => c.ToString(),
            });
        }
        return sb.Append('"').ToString();
    }

    private static string Group(IEnumerable<string> alternatives)
    {
        var list = alternatives.Distinct(StringComparer.Ordinal).ToList();
        return list.Count == 1 ? list[0] : "( " + string.Join(" | ", list) + " )";
    }

    private string NewRule(string hint)
    {
        var sb = new StringBuilder();
        foreach (var c in hint) sb.Append(char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-');
        var baseName = sb.ToString().Trim('-');
        if (baseName.Length == 0) baseName = "rule";
        if (baseName.Length > 48) baseName = baseName[..48].Trim('-');
        var name = baseName;
        for (var i = 2; _rules.ContainsKey(name) || IsReserved(name); i++) name = $"{baseName}-{i}";
        _rules[name] = ""; // reserve
        return name;
    }

    private static bool IsReserved(string name) => name is "root" or "ws" or "char" or "string" or "integer" or "number" or "boolean" or "null" or "value" or "object" or "array";

    private string Reserve(string name, string body)
    {
        _rules[name] = body;
        return name;
    }

    private static string Join(string pointer, string segment) =>
        pointer + "/" + segment.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
