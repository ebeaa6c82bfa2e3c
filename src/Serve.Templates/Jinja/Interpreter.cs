using System.Text;

namespace Serve.Templates.Jinja;

internal enum Flow { Normal, Break, Continue }

/// <summary>Walks the node tree: statements write to the output, expressions evaluate to values.</summary>
internal sealed class Interpreter
{
    private int _depth;

    public Flow Execute(List<Node> nodes, Scope scope, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            var flow = Execute(node, scope, output);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Execute(Node node, Scope scope, StringBuilder output)
    {
        try
        {
            switch (node)
            {
                case TextNode t:
                    output.Append(t.Text);
                    return Flow.Normal;
                case OutputNode o:
                    output.Append(Values.Str(Evaluate(o.Value, scope)));
                    return Flow.Normal;
                case IfNode i:
                    foreach (var (condition, body) in i.Branches)
                        if (Values.Truthy(Evaluate(condition, scope))) return Execute(body, scope, output);
                    return i.Else is null ? Flow.Normal : Execute(i.Else, scope, output);
                case ForNode f:
                    return ExecuteFor(f, scope, output);
                case SetNode s:
                    Assign(s.Target, Evaluate(s.Value, scope), scope);
                    return Flow.Normal;
                case SetBlockNode sb:
                {
                    var captured = new StringBuilder();
                    Execute(sb.Body, scope, captured);
                    scope.Set(sb.Name, captured.ToString());
                    return Flow.Normal;
                }
                case MacroNode m:
                    scope.Set(m.Name, MakeMacro(m, scope));
                    return Flow.Normal;
                case FilterBlockNode fb:
                {
                    var captured = new StringBuilder();
                    Execute(fb.Body, scope, captured);
                    output.Append(Values.Str(ApplyFilter(fb.Filter, captured.ToString(), scope)));
                    return Flow.Normal;
                }
                case LoopControlNode lc:
                    return lc.IsBreak ? Flow.Break : Flow.Continue;
                default:
                    throw new TemplateException($"unknown node {node.GetType().Name}", node.Line);
            }
        }
        catch (TemplateException) { throw; }
        catch (Exception e) when (e is InvalidCastException or ArgumentException or IndexOutOfRangeException or FormatException or OverflowException or KeyNotFoundException)
        {
            throw new TemplateException(e.Message, node.Line);
        }
    }

    private Flow ExecuteFor(ForNode f, Scope scope, StringBuilder output)
    {
        var source = Evaluate(f.Iterable, scope);
        var items = source is JinjaObject dict && f.Targets.Count == 2
            ? dict.Pairs()
            : [.. Values.Iterate(source)];
        if (f.Condition is not null)
        {
            items = items.Where(item =>
            {
                var test = new Scope(scope);
                Bind(f.Targets, item, test);
                return Values.Truthy(Evaluate(f.Condition, test));
            }).ToList();
        }
        if (items.Count == 0)
            return f.Else is null ? Flow.Normal : Execute(f.Else, scope, output);
        for (var i = 0; i < items.Count; i++)
        {
            var body = new Scope(scope);
            Bind(f.Targets, items[i], body);
            body.Set("loop", LoopObject(items, i));
            if (Execute(f.Body, body, output) == Flow.Break) break;
        }
        return Flow.Normal;
    }

    private static JinjaObject LoopObject(List<object?> items, int i)
    {
        var n = items.Count;
        return new JinjaObject
        {
            ["index"] = (long)(i + 1),
            ["index0"] = (long)i,
            ["revindex"] = (long)(n - i),
            ["revindex0"] = (long)(n - i - 1),
            ["first"] = i == 0,
            ["last"] = i == n - 1,
            ["length"] = (long)n,
            ["previtem"] = i > 0 ? items[i - 1] : Undefined.Instance,
            ["nextitem"] = i < n - 1 ? items[i + 1] : Undefined.Instance,
            ["cycle"] = new Callable((args, _) => args.Count == 0 ? Undefined.Instance : args[i % args.Count]),
        };
    }

    private static void Bind(List<string> targets, object? item, Scope scope)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], item);
            return;
        }
        var parts = item as List<object?> ?? throw new TemplateException($"cannot unpack {Values.TypeName(item)} into {targets.Count} names");
        if (parts.Count != targets.Count) throw new TemplateException($"cannot unpack {parts.Count} values into {targets.Count} names");
        for (var i = 0; i < targets.Count; i++) scope.Set(targets[i], parts[i]);
    }

    private void Assign(Expr target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameExpr n:
                scope.Set(n.Name, value);
                break;
            case AttributeExpr a when Evaluate(a.Target, scope) is JinjaObject o:
                o[a.Name] = value;
                break;
            case IndexExpr ix when Evaluate(ix.Target, scope) is JinjaObject o:
                o[Values.Str(Evaluate(ix.Index, scope))] = value;
                break;
            case ListExpr { IsTuple: true } t:
                Bind(t.Items.Select(e => e is NameExpr n ? n.Name : throw new TemplateException("can only unpack into names", t.Line)).ToList(), value, scope);
                break;
            default:
                throw new TemplateException("cannot assign to this target", target.Line);
        }
    }

    private Callable MakeMacro(MacroNode m, Scope definingScope) => (args, kwargs) =>
    {
        if (++_depth > 200) throw new TemplateException($"macro '{m.Name}' recursed too deeply", m.Line);
        try
        {
            var scope = new Scope(definingScope);
            for (var i = 0; i < m.Parameters.Count; i++)
            {
                var (name, defaultValue) = m.Parameters[i];
                object? value;
                if (i < args.Count) value = args[i];
                else if (kwargs.TryGetValue(name, out var kw)) value = kw;
                else value = defaultValue is null ? Undefined.Instance : Evaluate(defaultValue, scope);
                scope.Set(name, value);
            }
            scope.Set("varargs", args.Skip(m.Parameters.Count).ToList());
            var output = new StringBuilder();
            Execute(m.Body, scope, output);
            return output.ToString();
        }
        finally { _depth--; }
    };

    public object? Evaluate(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr l: return l.Value;
            case NameExpr n: return scope.Get(n.Name);
            case ListExpr l: return l.Items.Select(e => Evaluate(e, scope)).ToList();
            case DictExpr d:
            {
                var o = new JinjaObject();
                foreach (var (k, v) in d.Items) o.SetWithKey(Evaluate(k, scope), Evaluate(v, scope));
                return o;
            }
            case AttributeExpr a: return Builtins.GetAttribute(Evaluate(a.Target, scope), a.Name);
            case IndexExpr ix: return Builtins.GetItem(Evaluate(ix.Target, scope), Evaluate(ix.Index, scope));
            case SliceExpr s:
                return Builtins.Slice(Evaluate(s.Target, scope), Opt(s.Start), Opt(s.Stop), Opt(s.Step));
            case CallExpr c:
            {
                var function = Evaluate(c.Function, scope);
                if (function is not Callable callable)
                    throw new TemplateException($"'{Describe(c.Function)}' is not callable ({Values.TypeName(function)})", c.Line);
                var args = c.Args.Select(a => Evaluate(a, scope)).ToList();
                var kwargs = c.Kwargs.ToDictionary(k => k.Name, k => Evaluate(k.Value, scope));
                return callable(args, kwargs);
            }
            case FilterExpr f: return ApplyFilter(f, Evaluate(f.Value!, scope), scope);
            case TestExpr t:
            {
                var value = Evaluate(t.Value, scope);
                var result = Builtins.Test(t.Name, value, t.Args.Select(a => Evaluate(a, scope)).ToList(), t.Line);
                return t.Negated ? !result : result;
            }
            case UnaryExpr u:
            {
                var v = Evaluate(u.Operand, scope);
                return u.Operator switch
                {
                    "not" => !Values.Truthy(v),
                    "-" => v is long l ? (object)(-l) : -Values.ToDouble(v),
                    _ => v,
                };
            }
            case BinaryExpr b: return EvaluateBinary(b, scope);
            case ConditionalExpr c:
                return Values.Truthy(Evaluate(c.Condition, scope))
                    ? Evaluate(c.Then, scope)
                    : c.Else is null ? Undefined.Instance : Evaluate(c.Else, scope);
            default:
                throw new TemplateException($"unknown expression {expr.GetType().Name}", expr.Line);
        }

        object? Opt(Expr? e) => e is null ? null : Evaluate(e, scope);
    }

    private static string Describe(Expr e) => e switch
    {
        NameExpr n => n.Name,
        AttributeExpr a => Describe(a.Target) + "." + a.Name,
        _ => "expression",
    };

    private object? ApplyFilter(FilterExpr f, object? value, Scope scope)
    {
        var args = f.Args.Select(a => Evaluate(a, scope)).ToList();
        var kwargs = f.Kwargs.ToDictionary(k => k.Name, k => Evaluate(k.Value, scope));
        return Builtins.Filter(f.Name, value, args, kwargs, f.Line);
    }

    private object? EvaluateBinary(BinaryExpr b, Scope scope)
    {
        if (b.Operator == "and")
        {
            var left = Evaluate(b.Left, scope);
            return Values.Truthy(left) ? Evaluate(b.Right, scope) : left;
        }
        if (b.Operator == "or")
        {
            var left = Evaluate(b.Left, scope);
            return Values.Truthy(left) ? left : Evaluate(b.Right, scope);
        }
        var l = Evaluate(b.Left, scope);
        var r = Evaluate(b.Right, scope);
        try
        {
            return Builtins.BinaryOperator(b.Operator, l, r);
        }
        catch (TemplateException e) when (e.Line == 0)
        {
            throw new TemplateException(e.Message, b.Line);
        }
    }
}
