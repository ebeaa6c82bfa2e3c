using System.Globalization;
using System.Net;
using System.Text;

namespace Serve.Templates.Jinja;

internal static partial class Builtins
{
    private static object? Arg(List<object?> args, Dictionary<string, object?> kwargs, int index, string name, object? fallback = null) =>
        index < args.Count ? args[index] : kwargs.TryGetValue(name, out var v) ? v : fallback;

    public static object? Filter(string name, object? value, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        try
        {
            return FilterCore(name, value, args, kwargs);
        }
        catch (TemplateException e) when (e.Line == 0 && e is not TemplateRaisedException)
        {
            throw new TemplateException($"filter '{name}': {e.Message}", line);
        }
    }

    private static object? FilterCore(string name, object? value, List<object?> args, Dictionary<string, object?> kwargs)
    {
        switch (name)
        {
            case "tojson":
            {
                var indent = Arg(args, kwargs, 0, "indent") is long n ? (int?)n : null;
                var separators = Arg(args, kwargs, 99, "separators") as List<object?>;
                return Values.ToJson(value, indent, separators?.Count > 0 ? Values.Str(separators[0]) : null,
                    separators?.Count > 1 ? Values.Str(separators[1]) : ": ", Values.Truthy(Arg(args, kwargs, 99, "sort_keys")));
            }
            case "length" or "count":
                return value switch
                {
                    string s => (long)s.Length,
                    List<object?> l => (long)l.Count,
                    JinjaObject o => (long)o.Count,
                    null or Undefined => 0L,
                    _ => throw new TemplateException($"{Values.TypeName(value)} has no length"),
                };
            case "trim" or "strip":
                return Strip(Values.Str(value), Arg(args, kwargs, 0, "chars"), true, true);
            case "string": return Values.Str(value);
            case "safe": return value;
            case "escape" or "e":
                return WebUtility.HtmlEncode(Values.Str(value));
            case "default" or "d":
            {
                var fallback = Arg(args, kwargs, 0, "default_value", "");
                var boolean = Values.Truthy(Arg(args, kwargs, 1, "boolean", false));
                return value is Undefined || (boolean && !Values.Truthy(value)) ? fallback : value;
            }
            case "upper": return Values.Str(value).ToUpperInvariant();
            case "lower": return Values.Str(value).ToLowerInvariant();
            case "title": return Title(Values.Str(value));
            case "capitalize": return Capitalize(Values.Str(value));
            case "replace":
                return Replace(Values.Str(value), Values.Str(Arg(args, kwargs, 0, "old")), Values.Str(Arg(args, kwargs, 1, "new")), Arg(args, kwargs, 2, "count"));
            case "join":
            {
                var separator = Values.Str(Arg(args, kwargs, 0, "d", ""));
                var attribute = Arg(args, kwargs, 1, "attribute");
                var items = Values.Iterate(value).Select(x => attribute is null ? x : GetItem(x, attribute));
                return string.Join(separator, items.Select(Values.Str));
            }
            case "items":
                return value switch
                {
                    JinjaObject o => o.Pairs(),
                    null or Undefined => new List<object?>(),
                    _ => throw new TemplateException($"{Values.TypeName(value)} has no items"),
                };
            case "keys": return value is JinjaObject ok ? ok.KeyValues() : new List<object?>();
            case "values": return value is JinjaObject ov ? ov.Values.ToList() : new List<object?>();
            case "list": return Values.Iterate(value).ToList();
            case "first": return Values.Iterate(value) is { Count: > 0 } f ? f[0] : Undefined.Instance;
            case "last": return Values.Iterate(value) is { Count: > 0 } l2 ? l2[^1] : Undefined.Instance;
            case "reverse": return value is string rs ? new string(rs.Reverse().ToArray()) : Enumerable.Reverse(Values.Iterate(value)).ToList();
            case "unique":
            {
                var result = new List<object?>();
                foreach (var item in Values.Iterate(value))
                    if (!result.Any(x => Values.Equals(x, item))) result.Add(item);
                return result;
            }
            case "sort":
            {
                var reverse = Values.Truthy(Arg(args, kwargs, 0, "reverse", false));
                var attribute = Arg(args, kwargs, 2, "attribute");
                var items = Values.Iterate(value).ToList();
                items.Sort((a, b) => Values.Compare(attribute is null ? a : GetItem(a, attribute), attribute is null ? b : GetItem(b, attribute)));
                if (reverse) items.Reverse();
                return items;
            }
            case "dictsort":
            {
                if (value is not JinjaObject d) throw new TemplateException($"dictsort needs a dict, got {Values.TypeName(value)}");
                var byValue = Values.Str(Arg(args, kwargs, 1, "by", "key")) == "value";
                var pairs = d.Pairs().Cast<List<object?>>().ToList();
                pairs.Sort((a, b) => Values.Compare(byValue ? a[1] : a[0], byValue ? b[1] : b[0]));
                if (Values.Truthy(Arg(args, kwargs, 2, "reverse", false))) pairs.Reverse();
                return pairs.Select(p => (object?)p).ToList();
            }
            case "selectattr" or "rejectattr":
            {
                var keep = name == "selectattr";
                var attribute = Arg(args, kwargs, 0, "attribute");
                return Values.Iterate(value).Where(item =>
                {
                    var v = GetItem(item, attribute);
                    var passed = args.Count > 1 ? Test(Values.Str(args[1]), v, args.Skip(2).ToList(), 0) : Values.Truthy(v);
                    return passed == keep;
                }).ToList();
            }
            case "select" or "reject":
            {
                var keep = name == "select";
                return Values.Iterate(value).Where(item =>
                {
                    var passed = args.Count > 0 ? Test(Values.Str(args[0]), item, args.Skip(1).ToList(), 0) : Values.Truthy(item);
                    return passed == keep;
                }).ToList();
            }
            case "map":
            {
                if (kwargs.TryGetValue("attribute", out var attribute))
                {
                    var fallback = kwargs.GetValueOrDefault("default", Undefined.Instance);
                    return Values.Iterate(value).Select(item => GetItem(item, attribute) is Undefined && fallback is not Undefined ? fallback : GetItem(item, attribute)).ToList();
                }
                if (args.Count == 0) throw new TemplateException("map needs a filter name or attribute=");
                var filter = Values.Str(args[0]);
                var rest = args.Skip(1).ToList();
                return Values.Iterate(value).Select(item => FilterCore(filter, item, rest, [])).ToList();
            }
            case "indent":
            {
                var width = Arg(args, kwargs, 0, "width", 4L);
                var pad = width is string ws ? ws : new string(' ', (int)AsLong(width));
                var first = Values.Truthy(Arg(args, kwargs, 1, "first", false));
                var blank = Values.Truthy(Arg(args, kwargs, 2, "blank", false));
                var lines = Values.Str(value).Split('\n');
                var sb = new StringBuilder();
                for (var i = 0; i < lines.Length; i++)
                {
                    if (i > 0) sb.Append('\n');
                    if ((i > 0 || first) && (blank || lines[i].Trim().Length > 0)) sb.Append(pad);
                    sb.Append(lines[i]);
                }
                return sb.ToString();
            }
            case "int":
                return value switch
                {
                    long l => l,
                    double dv => (long)dv,
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var li) => li,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var ld) => (long)ld,
                    _ => Arg(args, kwargs, 0, "default", 0L),
                };
            case "float":
                return value switch
                {
                    long l => (double)l,
                    double dv => dv,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var fd) => fd,
                    _ => Arg(args, kwargs, 0, "default", 0.0),
                };
            case "abs": return value is long al ? (object)Math.Abs(al) : Math.Abs(Values.ToDouble(value));
            case "round":
            {
                var digits = (int)AsLong(Arg(args, kwargs, 0, "precision", 0L));
                return Math.Round(Values.ToDouble(value), digits, MidpointRounding.ToEven);
            }
            case "sum":
            {
                var attribute = Arg(args, kwargs, 0, "attribute");
                object? total = Arg(args, kwargs, 1, "start", 0L);
                foreach (var item in Values.Iterate(value)) total = BinaryOperator("+", total, attribute is null ? item : GetItem(item, attribute));
                return total;
            }
            case "min" or "max":
            {
                var items = Values.Iterate(value);
                if (items.Count == 0) return Undefined.Instance;
                var best = items[0];
                foreach (var item in items.Skip(1))
                    if (name == "min" ? Values.Compare(item, best) < 0 : Values.Compare(item, best) > 0) best = item;
                return best;
            }
            case "wordcount": return (long)Values.Str(value).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            case "format": return PercentFormat(Values.Str(value), args);
            case "split": return Split(Values.Str(value), Arg(args, kwargs, 0, "sep"), Arg(args, kwargs, 1, "maxsplit"));
            case "batch":
            {
                var size = (int)AsLong(Arg(args, kwargs, 0, "linecount"));
                return Values.Iterate(value).Chunk(size).Select(c => (object?)c.ToList()).ToList();
            }
            case "truncate":
            {
                var s = Values.Str(value);
                var length = (int)AsLong(Arg(args, kwargs, 0, "length", 255L));
                var end = Values.Str(Arg(args, kwargs, 2, "end", "..."));
                return s.Length <= length ? s : s[..Math.Max(0, length - end.Length)] + end;
            }
            default:
                throw new TemplateException($"unknown filter '{name}'");
        }
    }

    public static bool Test(string name, object? value, List<object?> args, int line)
    {
        object? A(int i) => i < args.Count ? args[i] : throw new TemplateException($"test '{name}' needs an argument", line);
        return name switch
        {
            "defined" => value is not Undefined,
            "undefined" => value is Undefined,
            "none" => value is null,
            "string" => value is string,
            "number" => value is long or double,
            "integer" => value is long,
            "float" => value is double,
            "boolean" => value is bool,
            "true" => value is true,
            "false" => value is false,
            "mapping" => value is JinjaObject,
            "sequence" => value is List<object?> or string or JinjaObject,
            "iterable" => value is List<object?> or string or JinjaObject,
            "callable" => value is Callable,
            "odd" => AsLong(value) % 2 != 0,
            "even" => AsLong(value) % 2 == 0,
            "divisibleby" => AsLong(value) % AsLong(A(0)) == 0,
            "eq" or "equalto" or "==" => Values.Equals(value, A(0)),
            "ne" or "!=" => !Values.Equals(value, A(0)),
            "lt" or "lessthan" or "<" => Values.Compare(value, A(0)) < 0,
            "le" or "<=" => Values.Compare(value, A(0)) <= 0,
            "gt" or "greaterthan" or ">" => Values.Compare(value, A(0)) > 0,
            "ge" or ">=" => Values.Compare(value, A(0)) >= 0,
            "in" => Contains(A(0), value),
            "sameas" => value is null || value is bool ? Values.Equals(value, A(0)) && A(0)?.GetType() == value?.GetType() : ReferenceEquals(value, A(0)),
            "lower" => value is string lo && lo == lo.ToLowerInvariant(),
            "upper" => value is string up && up == up.ToUpperInvariant(),
            "escaped" => false,
            _ => throw new TemplateException($"unknown test '{name}'", line),
        };
    }

    private static string Strip(string s, object? chars, bool start, bool end)
    {
        var set = chars is string c ? c.ToCharArray() : null;
        if (set is null) return start && end ? s.Trim() : start ? s.TrimStart() : s.TrimEnd();
        return start && end ? s.Trim(set) : start ? s.TrimStart(set) : s.TrimEnd(set);
    }

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var startOfWord = true;
        foreach (var c in s)
        {
            sb.Append(startOfWord ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            startOfWord = !char.IsLetterOrDigit(c);
        }
        return sb.ToString();
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Replace(string s, string old, string replacement, object? count)
    {
        if (count is null or Undefined) return old.Length == 0 ? s : s.Replace(old, replacement, StringComparison.Ordinal);
        var remaining = AsLong(count);
        var sb = new StringBuilder();
        var pos = 0;
        while (remaining-- > 0 && old.Length > 0)
        {
            var i = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (i < 0) break;
            sb.Append(s, pos, i - pos).Append(replacement);
            pos = i + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    private static List<object?> Split(string s, object? separator, object? maxSplit, bool fromRight = false)
    {
        var max = maxSplit is null or Undefined ? -1 : AsLong(maxSplit);
        List<string> parts;
        if (separator is null or Undefined)
        {
            parts = [.. s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)];
            if (max >= 0 && parts.Count > max + 1)
            {
                // Python keeps the rest of the string, whitespace included, in the last part.
                if (fromRight) parts = [s.TrimEnd()[..(s.TrimEnd().Length - string.Join(" ", parts.TakeLast((int)max)).Length)].TrimEnd(), .. parts.TakeLast((int)max)];
                else
                {
                    var head = parts.Take((int)max).ToList();
                    var rest = s.TrimStart();
                    foreach (var h in head) rest = rest[h.Length..].TrimStart();
                    parts = [.. head, rest];
                }
            }
        }
        else
        {
            var sep = Values.Str(separator);
            if (sep.Length == 0) throw new TemplateException("empty separator");
            parts = [.. s.Split(sep)];
            if (max >= 0 && parts.Count > max + 1)
                parts = fromRight
                    ? [string.Join(sep, parts.Take(parts.Count - (int)max)), .. parts.TakeLast((int)max)]
                    : [.. parts.Take((int)max), string.Join(sep, parts.Skip((int)max))];
        }
        return parts.Select(p => (object?)p).ToList();
    }

    /// <summary>The Python methods templates call on strings, dicts and lists, bound to their target; null when unknown.</summary>
    private static Callable? Method(object? target, string name) => target switch
    {
        string s => name switch
        {
            "strip" => (a, k) => Strip(s, Arg(a, k, 0, "chars"), true, true),
            "lstrip" => (a, k) => Strip(s, Arg(a, k, 0, "chars"), true, false),
            "rstrip" => (a, k) => Strip(s, Arg(a, k, 0, "chars"), false, true),
            "split" => (a, k) => Split(s, Arg(a, k, 0, "sep"), Arg(a, k, 1, "maxsplit")),
            "rsplit" => (a, k) => Split(s, Arg(a, k, 0, "sep"), Arg(a, k, 1, "maxsplit"), fromRight: true),
            "splitlines" => (_, _) => s.Split('\n').Select(l => (object?)l.TrimEnd('\r')).ToList(),
            "startswith" => (a, _) => Prefixes(a).Any(p => s.StartsWith(p, StringComparison.Ordinal)),
            "endswith" => (a, _) => Prefixes(a).Any(p => s.EndsWith(p, StringComparison.Ordinal)),
            "replace" => (a, k) => Replace(s, Values.Str(Arg(a, k, 0, "old")), Values.Str(Arg(a, k, 1, "new")), Arg(a, k, 2, "count")),
            "upper" => (_, _) => s.ToUpperInvariant(),
            "lower" => (_, _) => s.ToLowerInvariant(),
            "title" => (_, _) => Title(s),
            "capitalize" => (_, _) => Capitalize(s),
            "find" => (a, _) => (long)s.IndexOf(Values.Str(a.FirstOrDefault()), StringComparison.Ordinal),
            "count" => (a, _) => (long)CountOccurrences(s, Values.Str(a.FirstOrDefault())),
            "join" => (a, _) => string.Join(s, Values.Iterate(a.FirstOrDefault()).Select(Values.Str)),
            "format" => (a, k) => PythonFormat(s, a, k),
            "isdigit" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
            "isspace" => (_, _) => s.Length > 0 && s.All(char.IsWhiteSpace),
            _ => null,
        },
        JinjaObject o => name switch
        {
            "get" => (a, _) => a.Count > 0 && o.TryGetValue(Values.Str(a[0]), out var v) ? v : a.Count > 1 ? a[1] : null,
            "items" => (_, _) => o.Pairs(),
            "keys" => (_, _) => o.KeyValues(),
            "values" => (_, _) => o.Values.ToList(),
            "pop" => (a, _) =>
            {
                var key = Values.Str(a.FirstOrDefault());
                if (o.Remove(key, out var v)) return v;
                return a.Count > 1 ? a[1] : throw new TemplateException($"key '{key}' not found");
            },
            "update" => (a, k) =>
            {
                if (a.FirstOrDefault() is JinjaObject other) foreach (var (key, v) in other) o[key] = v;
                foreach (var (key, v) in k) o[key] = v;
                return null;
            },
            "copy" => (_, _) =>
            {
                var copy = new JinjaObject();
                foreach (var (key, v) in o) copy[key] = v;
                return copy;
            },
            _ => null,
        },
        List<object?> l => name switch
        {
            "append" => (a, _) => { l.Add(a.FirstOrDefault()); return null; },
            "extend" => (a, _) => { l.AddRange(Values.Iterate(a.FirstOrDefault())); return null; },
            "insert" => (a, _) => { l.Insert((int)AsLong(a[0]), a[1]); return null; },
            "pop" => (a, _) =>
            {
                if (l.Count == 0) throw new TemplateException("pop from an empty list");
                var i = a.Count > 0 ? (int)AsLong(a[0]) : l.Count - 1;
                if (i < 0) i += l.Count;
                var v = l[i];
                l.RemoveAt(i);
                return v;
            },
            "index" => (a, _) => (long)l.FindIndex(x => Values.Equals(x, a.FirstOrDefault())),
            "count" => (a, _) => (long)l.Count(x => Values.Equals(x, a.FirstOrDefault())),
            _ => null,
        },
        _ => null,
    };

    private static IEnumerable<string> Prefixes(List<object?> args) =>
        args.FirstOrDefault() is List<object?> options ? options.Select(Values.Str) : [Values.Str(args.FirstOrDefault())];

    private static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        var count = 0;
        for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    /// <summary>str.format with {} / {0} / {name} fields (no format specs beyond plain conversion).</summary>
    private static string PythonFormat(string format, List<object?> args, Dictionary<string, object?> kwargs)
    {
        var sb = new StringBuilder();
        var auto = 0;
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c == '{' && i + 1 < format.Length && format[i + 1] == '{') { sb.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < format.Length && format[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (c != '{') { sb.Append(c); continue; }
            var close = format.IndexOf('}', i);
            if (close < 0) throw new TemplateException("unclosed '{' in format string");
            var field = format[(i + 1)..close].Split(':')[0];
            object? value = field.Length == 0 ? (auto < args.Count ? args[auto++] : throw new TemplateException("not enough arguments for format string"))
                : int.TryParse(field, out var index) ? args[index]
                : kwargs.GetValueOrDefault(field, Undefined.Instance);
            sb.Append(Values.Str(value));
            i = close;
        }
        return sb.ToString();
    }
}
