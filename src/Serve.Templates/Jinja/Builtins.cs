using System.Globalization;
using System.Text;

namespace Serve.Templates.Jinja;

/// <summary>Jinja's filters, tests, global functions and operators, and the Python methods templates call.</summary>
internal static partial class Builtins
{
    public static void AddGlobals(Scope scope, TimeProvider clock)
    {
        scope.Set("range", new Callable((args, _) => Range(args)));
        scope.Set("namespace", new Callable((args, kwargs) =>
        {
            var ns = new JinjaObject();
            if (args.Count > 0 && args[0] is JinjaObject initial)
                foreach (var (k, v) in initial) ns[k] = v;
            foreach (var (k, v) in kwargs) ns[k] = v;
            return ns;
        }));
        scope.Set("dict", new Callable((args, kwargs) =>
        {
            var d = new JinjaObject();
            if (args.Count > 0 && args[0] is JinjaObject initial)
                foreach (var (k, v) in initial) d[k] = v;
            foreach (var (k, v) in kwargs) d[k] = v;
            return d;
        }));
        scope.Set("raise_exception", new Callable((args, _) =>
            throw new TemplateRaisedException(args.Count > 0 ? Values.Str(args[0]) : "the template raised an exception")));
        scope.Set("strftime_now", new Callable((args, _) =>
            StrFTime(clock.GetLocalNow(), args.Count > 0 ? Values.Str(args[0]) : "%Y-%m-%d")));
    }

    private static List<object?> Range(List<object?> args)
    {
        long start = 0, stop, step = 1;
        if (args.Count == 1) stop = AsLong(args[0]);
        else if (args.Count >= 2)
        {
            start = AsLong(args[0]);
            stop = AsLong(args[1]);
            if (args.Count > 2) step = AsLong(args[2]);
        }
        else throw new TemplateException("range() needs at least one argument");
        if (step == 0) throw new TemplateException("range() step must not be zero");
        var result = new List<object?>();
        for (var i = start; step > 0 ? i < stop : i > stop; i += step) result.Add(i);
        return result;
    }

    private static long AsLong(object? v) => v switch
    {
        long l => l,
        double d => (long)d,
        bool b => b ? 1 : 0,
        string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
        _ => throw new TemplateException($"expected an integer, got {Values.TypeName(v)}"),
    };

    public static object? GetAttribute(object? target, string name)
    {
        if (target is JinjaObject o)
            return o.TryGetValue(name, out var v) ? v : (object?)Method(target, name) ?? Undefined.Instance;
        return (object?)Method(target, name) ?? Undefined.Instance;
    }

    public static object? GetItem(object? target, object? index)
    {
        switch (target)
        {
            case JinjaObject o:
                return index is string key
                    ? o.TryGetValue(key, out var v) ? v : Undefined.Instance
                    : o.TryGetValue(Values.Str(index), out var w) ? w : Undefined.Instance;
            case List<object?> list when index is long or bool:
            {
                var i = AsLong(index);
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : Undefined.Instance;
            }
            case string s when index is long:
            {
                var i = AsLong(index);
                if (i < 0) i += s.Length;
                return i >= 0 && i < s.Length ? s[(int)i].ToString() : Undefined.Instance;
            }
            case null or Undefined:
                return Undefined.Instance;
            default:
                return index is string name ? GetAttribute(target, name) : Undefined.Instance;
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        var items = target switch
        {
            string s => s.Select(c => (object?)c.ToString()).ToList(),
            List<object?> l => l,
            _ => throw new TemplateException($"cannot slice {Values.TypeName(target)}"),
        };
        var n = items.Count;
        var st = step is null or Undefined ? 1 : AsLong(step);
        if (st == 0) throw new TemplateException("slice step must not be zero");
        long Norm(object? v, long dflt)
        {
            if (v is null or Undefined) return dflt;
            var i = AsLong(v);
            if (i < 0) i += n;
            return st > 0 ? Math.Clamp(i, 0, n) : Math.Clamp(i, -1, n - 1);
        }
        var a = Norm(start, st > 0 ? 0 : n - 1);
        var b = Norm(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (var i = a; st > 0 ? i < b : i > b; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Select(x => (string)x!)) : result;
    }

    public static object? BinaryOperator(string op, object? l, object? r)
    {
        switch (op)
        {
            case "==": return Values.Equals(l, r);
            case "!=": return !Values.Equals(l, r);
            case "<": return Values.Compare(l, r) < 0;
            case ">": return Values.Compare(l, r) > 0;
            case "<=": return Values.Compare(l, r) <= 0;
            case ">=": return Values.Compare(l, r) >= 0;
            case "in": return Contains(r, l);
            case "not in": return !Contains(r, l);
            case "~": return Values.Str(l) + Values.Str(r);
            case "+":
                if (l is string ls && r is string rs) return ls + rs;
                // As llama.cpp's engine does: published templates add variables only some runtimes define (functions).
                if (l is string && r is Undefined || l is Undefined && r is string) return Values.Str(l) + Values.Str(r);
                if (l is List<object?> ll && r is List<object?> rl) return ll.Concat(rl).ToList();
                if (l is long la && r is long lb) return la + lb;
                if (Values.IsNumber(l) && Values.IsNumber(r)) return Values.ToDouble(l) + Values.ToDouble(r);
                if (l is string || r is string)
                    throw new TemplateException($"cannot add {Values.TypeName(l)} and {Values.TypeName(r)}");
                break;
            case "-":
                if (l is long sa && r is long sb) return sa - sb;
                if (Values.IsNumber(l) && Values.IsNumber(r)) return Values.ToDouble(l) - Values.ToDouble(r);
                break;
            case "*":
                if (l is string str && r is long times) return times <= 0 ? "" : string.Concat(Enumerable.Repeat(str, (int)times));
                if (l is List<object?> lst && r is long count) return Enumerable.Range(0, (int)Math.Max(0, count)).SelectMany(_ => lst).ToList();
                if (l is long ma && r is long mb) return ma * mb;
                if (Values.IsNumber(l) && Values.IsNumber(r)) return Values.ToDouble(l) * Values.ToDouble(r);
                break;
            case "/":
                if (Values.IsNumber(l) && Values.IsNumber(r)) return Values.ToDouble(l) / Values.ToDouble(r);
                break;
            case "//":
                if (l is long fa && r is long fb) return (long)Math.Floor((double)fa / fb);
                if (Values.IsNumber(l) && Values.IsNumber(r)) return Math.Floor(Values.ToDouble(l) / Values.ToDouble(r));
                break;
            case "%":
                if (l is long pa && r is long pb) return ((pa % pb) + pb) % pb;
                if (l is string fmt) return PercentFormat(fmt, r is List<object?> fl ? fl : [r]);
                if (Values.IsNumber(l) && Values.IsNumber(r)) return Values.ToDouble(l) % Values.ToDouble(r);
                break;
            case "**":
                if (l is long ba && r is long bb && bb >= 0) return (long)Math.Pow(ba, bb);
                if (Values.IsNumber(l) && Values.IsNumber(r)) return Math.Pow(Values.ToDouble(l), Values.ToDouble(r));
                break;
        }
        throw new TemplateException($"unsupported operand types for {op}: {Values.TypeName(l)} and {Values.TypeName(r)}");
    }

    private static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw new TemplateException($"'in <string>' needs a string, got {Values.TypeName(item)}"),
        List<object?> l => l.Any(x => Values.Equals(x, item)),
        JinjaObject o => item is string key && o.ContainsKey(key),
        null or Undefined => false,
        _ => throw new TemplateException($"{Values.TypeName(container)} is not a container"),
    };

    /// <summary>Python's "%s %d" formatting, for the format filter and the % operator.</summary>
    public static string PercentFormat(string format, List<object?> args)
    {
        var sb = new StringBuilder();
        var next = 0;
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            var c = format[++i];
            if (c == '%') { sb.Append('%'); continue; }
            if (next >= args.Count) throw new TemplateException("not enough arguments for format string");
            var arg = args[next++];
            sb.Append(c switch
            {
                'd' or 'i' => AsLong(arg).ToString(CultureInfo.InvariantCulture),
                'f' => Values.ToDouble(arg).ToString("F6", CultureInfo.InvariantCulture),
                'r' => Values.Repr(arg),
                _ => Values.Str(arg),
            });
        }
        return sb.ToString();
    }

    public static string StrFTime(DateTimeOffset t, string format)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            var c = format[++i];
            var inv = CultureInfo.InvariantCulture;
            sb.Append(c switch
            {
                'Y' => t.Year.ToString("D4", inv),
                'y' => (t.Year % 100).ToString("D2", inv),
                'm' => t.Month.ToString("D2", inv),
                'd' => t.Day.ToString("D2", inv),
                '-' when i + 1 < format.Length && format[i + 1] == 'd' => (++i > 0 ? t.Day : 0).ToString(inv),
                'H' => t.Hour.ToString("D2", inv),
                'M' => t.Minute.ToString("D2", inv),
                'S' => t.Second.ToString("D2", inv),
                'b' => t.ToString("MMM", inv),
                'B' => t.ToString("MMMM", inv),
                'a' => t.ToString("ddd", inv),
                'A' => t.ToString("dddd", inv),
                'j' => t.DayOfYear.ToString("D3", inv),
                '%' => "%",
                _ => "%" + c,
            });
        }
        return sb.ToString();
    }
}
