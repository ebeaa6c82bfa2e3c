using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serve.Templates.Jinja;

/// <summary>A name or attribute that does not exist: false, empty, and printed as nothing.</summary>
public sealed class Undefined
{
    public static readonly Undefined Instance = new();
    private Undefined() { }
    public override string ToString() => "";
}

/// <summary>Something a template can call: a macro, a global function, or a bound method.</summary>
internal delegate object? Callable(List<object?> args, Dictionary<string, object?> kwargs);

/// <summary>
/// The runtime's values are plain objects: null (none), <see cref="Undefined"/>, bool, long, double, string,
/// List&lt;object?&gt; (lists and tuples), JinjaObject (dicts, namespaces) and <see cref="Callable"/>.
/// </summary>
public sealed class JinjaObject : OrderedDictionary<string, object?>
{
    private Dictionary<string, object?>? _keyValues;

    public JinjaObject() : base(StringComparer.Ordinal) { }

    /// <summary>Sets an entry whose key in the template was not a string ({0: 'a'}): lookups use its text, iteration gives the key back.</summary>
    internal void SetWithKey(object? key, object? value)
    {
        var text = Jinja.Values.Str(key);
        this[text] = value;
        if (key is not string) (_keyValues ??= new(StringComparer.Ordinal))[text] = key;
    }

    /// <summary>The key as the template wrote it.</summary>
    internal object? KeyValue(string key) => _keyValues is not null && _keyValues.TryGetValue(key, out var k) ? k : key;

    internal List<object?> KeyValues() => Keys.Select(KeyValue).ToList();

    internal List<object?> Pairs() => this.Select(kv => (object?)new List<object?> { KeyValue(kv.Key), kv.Value }).ToList();
}

internal static class Values
{
    public static bool IsUndefined(object? v) => v is Undefined;

    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        JinjaObject o => o.Count > 0,
        _ => true,
    };

    /// <summary>What {{ v }} prints: Python's str() of the value.</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v, top: true),
    };

    /// <summary>Python's repr(), used for values inside printed lists and dicts.</summary>
    public static string Repr(object? v, bool top = false) => v switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        string s => top ? s : "'" + s.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n") + "'",
        List<object?> l => "[" + string.Join(", ", l.Select(x => Repr(x))) + "]",
        JinjaObject o => "{" + string.Join(", ", o.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}",
        Callable => "<function>",
        _ => v.ToString() ?? "",
    };

    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == Math.Floor(d) && Math.Abs(d) < 1e16) return d.ToString("0.0", CultureInfo.InvariantCulture);
        return d.ToString("R", CultureInfo.InvariantCulture).Replace("E+", "e+").Replace("E-", "e-");
    }

    public static string TypeName(object? v) => v switch
    {
        null => "none",
        Undefined => "undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "string",
        List<object?> => "list",
        JinjaObject => "dict",
        Callable => "function",
        _ => v.GetType().Name,
    };

    public static bool IsNumber(object? v) => v is long or double;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new TemplateException($"expected a number, got {TypeName(v)}"),
    };

    public static new bool Equals(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a is null || b is null) return a is null && b is null;
        if (a is bool ba && b is bool bb) return ba == bb;
        if (IsNumber(a) && IsNumber(b) || a is bool && IsNumber(b) || IsNumber(a) && b is bool) return ToDouble(a) == ToDouble(b);
        if (a is string sa && b is string sb) return sa == sb;
        if (a is List<object?> la && b is List<object?> lb) return la.Count == lb.Count && la.Zip(lb).All(p => Equals(p.First, p.Second));
        if (a is JinjaObject oa && b is JinjaObject ob)
            return oa.Count == ob.Count && oa.All(kv => ob.TryGetValue(kv.Key, out var other) && Equals(kv.Value, other));
        return ReferenceEquals(a, b);
    }

    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb);
        if (a is bool || b is bool) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is List<object?> la && b is List<object?> lb)
        {
            for (var i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                var c = Compare(la[i], lb[i]);
                if (c != 0) return c;
            }
            return la.Count.CompareTo(lb.Count);
        }
        throw new TemplateException($"cannot compare {TypeName(a)} with {TypeName(b)}");
    }

    /// <summary>The items a for loop or filter walks: list items, dict keys, string characters.</summary>
    public static List<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        JinjaObject o => o.KeyValues(),
        string s => [.. EnumerateChars(s)],
        null or Undefined => [],
        _ => throw new TemplateException($"{TypeName(v)} is not iterable"),
    };

    private static IEnumerable<object?> EnumerateChars(string s)
    {
        var e = StringInfo.GetTextElementEnumerator(s);
        while (e.MoveNext()) yield return (string)e.Current;
    }

    public static object? FromJson(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => FromJsonObject(o),
        JsonArray a => a.Select(FromJson).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => NumberFromJson(v),
            _ => null,
        },
        _ => null,
    };

    private static object NumberFromJson(JsonValue v)
    {
        if (v.TryGetValue<JsonElement>(out var e)) return e.TryGetInt64(out var el) ? (object)el : e.GetDouble();
        if (v.TryGetValue<long>(out var l)) return l;
        if (v.TryGetValue<int>(out var i)) return (long)i;
        return v.GetValue<double>();
    }

    private static JinjaObject FromJsonObject(JsonObject o)
    {
        var result = new JinjaObject();
        foreach (var (key, value) in o) result[key] = FromJson(value);
        return result;
    }

    /// <summary>JSON as Python's json.dumps writes it (ensure_ascii off), the way chat templates' tojson does.</summary>
    public static string ToJson(object? v, int? indent = null, string? itemSeparator = null, string keySeparator = ": ", bool sortKeys = false)
    {
        var sb = new StringBuilder();
        WriteJson(sb, v, indent, itemSeparator ?? (indent is null ? ", " : ","), keySeparator, sortKeys, 0);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? v, int? indent, string itemSep, string keySep, bool sortKeys, int depth)
    {
        switch (v)
        {
            case null or Undefined: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(FormatFloat(d) switch { "nan" => "NaN", "inf" => "Infinity", "-inf" => "-Infinity", var f => f }); break;
            case string s: WriteJsonString(sb, s); break;
            case List<object?> list:
                WriteContainer(sb, '[', ']', list.Count, indent, itemSep, depth, i => WriteJson(sb, list[i], indent, itemSep, keySep, sortKeys, depth + 1));
                break;
            case JinjaObject o:
            {
                var entries = sortKeys ? o.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList() : o.ToList();
                WriteContainer(sb, '{', '}', entries.Count, indent, itemSep, depth, i =>
                {
                    WriteJsonString(sb, entries[i].Key);
                    sb.Append(keySep);
                    WriteJson(sb, entries[i].Value, indent, itemSep, keySep, sortKeys, depth + 1);
                });
                break;
            }
            default: throw new TemplateException($"cannot convert {TypeName(v)} to JSON");
        }
    }

    private static void WriteContainer(StringBuilder sb, char open, char close, int count, int? indent, string itemSep, int depth, Action<int> writeItem)
    {
        sb.Append(open);
        if (count == 0) { sb.Append(close); return; }
        for (var i = 0; i < count; i++)
        {
            if (i > 0) sb.Append(itemSep);
            if (indent is { } n) sb.Append('\n').Append(' ', n * (depth + 1));
            writeItem(i);
        }
        if (indent is { } m) sb.Append('\n').Append(' ', m * depth);
        sb.Append(close);
    }

    private static void WriteJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
