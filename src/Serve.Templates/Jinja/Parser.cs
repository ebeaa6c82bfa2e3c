using System.Globalization;

namespace Serve.Templates.Jinja;

/// <summary>Recursive-descent parser from tokens to the node tree, with Jinja's operator precedence.</summary>
internal sealed class Parser
{
    private static readonly HashSet<string> TestArgStops = ["and", "or", "else", "if", "not", "in", "is", "for"];
    private readonly List<Token> _tokens;
    private int _pos;

    private Parser(List<Token> tokens) => _tokens = tokens;

    public static List<Node> Parse(string source)
    {
        var parser = new Parser(Lexer.Tokenize(source));
        var body = parser.ParseBody(out var end);
        if (end is not null) throw new TemplateException($"unexpected '{end}'", parser.Peek.Line);
        return body;
    }

    private Token Peek => _pos < _tokens.Count ? _tokens[_pos] : new Token(TokenKind.End, "", _tokens.Count > 0 ? _tokens[^1].Line : 0);
    private Token PeekAt(int offset) => _pos + offset < _tokens.Count ? _tokens[_pos + offset] : new Token(TokenKind.End, "", 0);
    private Token Next() => _tokens[_pos++ < _tokens.Count ? _pos - 1 : throw new TemplateException("unexpected end of template")];
    private bool IsOp(string op) => Peek.Kind == TokenKind.Operator && Peek.Value == op;
    private bool IsName(string name) => Peek.Kind == TokenKind.Name && Peek.Value == name;

    private void ExpectOp(string op)
    {
        if (!IsOp(op)) throw new TemplateException($"expected '{op}' but found '{Peek.Value}'", Peek.Line);
        _pos++;
    }

    private string ExpectName()
    {
        if (Peek.Kind != TokenKind.Name) throw new TemplateException($"expected a name but found '{Peek.Value}'", Peek.Line);
        return Next().Value;
    }

    private void ExpectKeyword(string name)
    {
        if (!IsName(name)) throw new TemplateException($"expected '{name}' but found '{Peek.Value}'", Peek.Line);
        _pos++;
    }

    private void ExpectStatementEnd()
    {
        if (Peek.Kind != TokenKind.StatementEnd) throw new TemplateException($"unexpected '{Peek.Value}' in tag", Peek.Line);
        _pos++;
    }

    /// <summary>Nodes until the end or a block keyword that closes the caller's block (returned in end, its tag start consumed).</summary>
    private List<Node> ParseBody(out string? end, params string[] ends)
    {
        var nodes = new List<Node>();
        while (Peek.Kind != TokenKind.End)
        {
            var token = Next();
            switch (token.Kind)
            {
                case TokenKind.Text:
                    nodes.Add(new TextNode(token.Value, token.Line));
                    break;
                case TokenKind.OutputStart:
                    nodes.Add(new OutputNode(ParseExpression(), token.Line));
                    if (Next().Kind != TokenKind.OutputEnd) throw new TemplateException("expected '}}'", token.Line);
                    break;
                case TokenKind.StatementStart:
                    if (Peek.Kind == TokenKind.Name && ends.Contains(Peek.Value))
                    {
                        end = Next().Value;
                        return nodes;
                    }
                    nodes.Add(ParseStatement(token.Line));
                    break;
                default:
                    throw new TemplateException($"unexpected '{token.Value}'", token.Line);
            }
        }
        if (ends.Length > 0) throw new TemplateException($"missing '{string.Join("' or '", ends)}'", Peek.Line);
        end = null;
        return nodes;
    }

    private Node ParseStatement(int line)
    {
        var keyword = ExpectName();
        switch (keyword)
        {
            case "if": return ParseIf(line);
            case "for": return ParseFor(line);
            case "set": return ParseSet(line);
            case "macro": return ParseMacro(line);
            case "break" or "continue":
                ExpectStatementEnd();
                return new LoopControlNode(keyword == "break", line);
            case "generation":
            {
                // Hugging Face's marker for assistant tokens in training masks: it renders its body unchanged.
                ExpectStatementEnd();
                var body = ParseBody(out _, "endgeneration");
                ExpectStatementEnd();
                return new IfNode([(new LiteralExpr(true, line), body)], null, line);
            }
            case "filter":
            {
                var filter = ParseFilterCall(null);
                ExpectStatementEnd();
                var body = ParseBody(out _, "endfilter");
                ExpectStatementEnd();
                return new FilterBlockNode(filter, body, line);
            }
            default:
                throw new TemplateException($"unknown tag '{keyword}'", line);
        }
    }

    private IfNode ParseIf(int line)
    {
        var branches = new List<(Expr, List<Node>)>();
        var condition = ParseExpression();
        ExpectStatementEnd();
        while (true)
        {
            var body = ParseBody(out var end, "elif", "else", "endif");
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseExpression();
                ExpectStatementEnd();
                continue;
            }
            ExpectStatementEnd();
            if (end == "endif") return new IfNode(branches, null, line);
            var elseBody = ParseBody(out _, "endif");
            ExpectStatementEnd();
            return new IfNode(branches, elseBody, line);
        }
    }

    private ForNode ParseFor(int line)
    {
        var targets = new List<string> { ExpectName() };
        while (IsOp(","))
        {
            _pos++;
            targets.Add(ExpectName());
        }
        ExpectKeyword("in");
        var iterable = ParseOr();
        Expr? condition = null;
        if (IsName("if"))
        {
            _pos++;
            condition = ParseOr();
        }
        if (IsName("recursive")) throw new TemplateException("recursive loops are not supported", line);
        ExpectStatementEnd();
        var body = ParseBody(out var end, "else", "endfor");
        ExpectStatementEnd();
        List<Node>? elseBody = null;
        if (end == "else")
        {
            elseBody = ParseBody(out _, "endfor");
            ExpectStatementEnd();
        }
        return new ForNode(targets, iterable, condition, body, elseBody, line);
    }

    private Node ParseSet(int line)
    {
        var target = ParsePrimaryWithPostfix();
        if (IsOp(","))
        {
            var items = new List<Expr> { target };
            while (IsOp(","))
            {
                _pos++;
                items.Add(ParsePrimaryWithPostfix());
            }
            target = new ListExpr(items, true, line);
        }
        if (Peek.Kind == TokenKind.StatementEnd && target is NameExpr name)
        {
            _pos++;
            var body = ParseBody(out _, "endset");
            ExpectStatementEnd();
            return new SetBlockNode(name.Name, body, line);
        }
        ExpectOp("=");
        var value = ParseTupleOrExpression();
        ExpectStatementEnd();
        return new SetNode(target, value, line);
    }

    private MacroNode ParseMacro(int line)
    {
        var name = ExpectName();
        ExpectOp("(");
        var parameters = new List<(string, Expr?)>();
        while (!IsOp(")"))
        {
            var parameter = ExpectName();
            Expr? defaultValue = null;
            if (IsOp("="))
            {
                _pos++;
                defaultValue = ParseExpression();
            }
            parameters.Add((parameter, defaultValue));
            if (!IsOp(")")) ExpectOp(",");
        }
        _pos++;
        ExpectStatementEnd();
        var body = ParseBody(out _, "endmacro");
        if (Peek.Kind == TokenKind.Name) _pos++;
        ExpectStatementEnd();
        return new MacroNode(name, parameters, body, line);
    }

    private Expr ParseTupleOrExpression()
    {
        var first = ParseExpression();
        if (!IsOp(",")) return first;
        var items = new List<Expr> { first };
        while (IsOp(","))
        {
            _pos++;
            items.Add(ParseExpression());
        }
        return new ListExpr(items, true, first.Line);
    }

    public Expr ParseExpression()
    {
        var value = ParseOr();
        if (!IsName("if")) return value;
        _pos++;
        var condition = ParseOr();
        Expr? elseValue = null;
        if (IsName("else"))
        {
            _pos++;
            elseValue = ParseExpression();
        }
        return new ConditionalExpr(condition, value, elseValue, value.Line);
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (IsName("or"))
        {
            _pos++;
            left = new BinaryExpr("or", left, ParseAnd(), left.Line);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (IsName("and"))
        {
            _pos++;
            left = new BinaryExpr("and", left, ParseNot(), left.Line);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (!IsName("not")) return ParseCompare();
        var line = Next().Line;
        return new UnaryExpr("not", ParseNot(), line);
    }

    private Expr ParseCompare()
    {
        var left = ParseAdditive();
        while (true)
        {
            string op;
            if (Peek.Kind == TokenKind.Operator && Peek.Value is "==" or "!=" or "<" or ">" or "<=" or ">=") op = Next().Value;
            else if (IsName("in")) { _pos++; op = "in"; }
            else if (IsName("not") && PeekAt(1) is { Kind: TokenKind.Name, Value: "in" }) { _pos += 2; op = "not in"; }
            else return left;
            left = new BinaryExpr(op, left, ParseAdditive(), left.Line);
        }
    }

    private Expr ParseAdditive()
    {
        var left = ParseConcat();
        while (Peek.Kind == TokenKind.Operator && Peek.Value is "+" or "-")
            left = new BinaryExpr(Next().Value, left, ParseConcat(), left.Line);
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMultiplicative();
        while (IsOp("~"))
        {
            _pos++;
            left = new BinaryExpr("~", left, ParseMultiplicative(), left.Line);
        }
        return left;
    }

    private Expr ParseMultiplicative()
    {
        var left = ParsePower();
        while (Peek.Kind == TokenKind.Operator && Peek.Value is "*" or "/" or "//" or "%")
            left = new BinaryExpr(Next().Value, left, ParsePower(), left.Line);
        return left;
    }

    private Expr ParsePower()
    {
        var left = ParseUnary();
        while (IsOp("**"))
        {
            _pos++;
            left = new BinaryExpr("**", left, ParseUnary(), left.Line);
        }
        return left;
    }

    /// <summary>As in Jinja, a sign binds tighter than filters: -3|abs is (-3)|abs.</summary>
    private Expr ParseUnary() => ParseFiltersAndTests(ParseSigned());

    private Expr ParseSigned()
    {
        if (Peek.Kind == TokenKind.Operator && Peek.Value is "-" or "+")
        {
            var token = Next();
            return new UnaryExpr(token.Value, ParseSigned(), token.Line);
        }
        return ParsePrimaryWithPostfix();
    }

    private Expr ParseFiltersAndTests(Expr value)
    {
        while (true)
        {
            if (IsOp("|"))
            {
                _pos++;
                value = ParseFilterCall(value);
            }
            else if (IsName("is"))
            {
                var line = Next().Line;
                var negated = false;
                if (IsName("not")) { _pos++; negated = true; }
                var name = ExpectName();
                var args = new List<Expr>();
                if (IsOp("(")) args = ParseCallArguments(out _);
                else if (Peek.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float
                         || (Peek.Kind == TokenKind.Name && !TestArgStops.Contains(Peek.Value)))
                    args.Add(ParsePrimaryWithPostfix());
                value = new TestExpr(value, name, args, negated, line);
            }
            else return value;
        }
    }

    private FilterExpr ParseFilterCall(Expr? value)
    {
        var line = Peek.Line;
        var name = ExpectName();
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        if (IsOp("(")) args = ParseCallArguments(out kwargs);
        return new FilterExpr(value, name, args, kwargs, line);
    }

    private List<Expr> ParseCallArguments(out List<(string, Expr)> kwargs)
    {
        ExpectOp("(");
        var args = new List<Expr>();
        kwargs = [];
        while (!IsOp(")"))
        {
            if (Peek.Kind == TokenKind.Name && PeekAt(1) is { Kind: TokenKind.Operator, Value: "=" })
            {
                var name = Next().Value;
                _pos++;
                kwargs.Add((name, ParseExpression()));
            }
            else args.Add(ParseExpression());
            if (!IsOp(")")) ExpectOp(",");
        }
        _pos++;
        return args;
    }

    private Expr ParsePrimaryWithPostfix()
    {
        var value = ParsePrimary();
        while (true)
        {
            if (IsOp("."))
            {
                _pos++;
                var token = Next();
                if (token.Kind is not (TokenKind.Name or TokenKind.Integer)) throw new TemplateException("expected an attribute name after '.'", token.Line);
                value = token.Kind == TokenKind.Integer
                    ? new IndexExpr(value, new LiteralExpr(long.Parse(token.Value, CultureInfo.InvariantCulture), token.Line), token.Line)
                    : new AttributeExpr(value, token.Value, token.Line);
            }
            else if (IsOp("["))
            {
                var line = Next().Line;
                Expr? start = null, stop = null, step = null;
                if (!IsOp(":")) start = ParseExpression();
                if (IsOp(":"))
                {
                    _pos++;
                    if (!IsOp("]") && !IsOp(":")) stop = ParseExpression();
                    if (IsOp(":"))
                    {
                        _pos++;
                        if (!IsOp("]")) step = ParseExpression();
                    }
                    ExpectOp("]");
                    value = new SliceExpr(value, start, stop, step, line);
                }
                else
                {
                    ExpectOp("]");
                    value = new IndexExpr(value, start!, line);
                }
            }
            else if (IsOp("("))
            {
                var line = Peek.Line;
                var args = ParseCallArguments(out var kwargs);
                value = new CallExpr(value, args, kwargs, line);
            }
            else return value;
        }
    }

    private Expr ParsePrimary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case TokenKind.String:
            {
                var text = token.Value;
                while (Peek.Kind == TokenKind.String) text += Next().Value;
                return new LiteralExpr(text, token.Line);
            }
            case TokenKind.Integer:
                return new LiteralExpr(long.Parse(token.Value, CultureInfo.InvariantCulture), token.Line);
            case TokenKind.Float:
                return new LiteralExpr(double.Parse(token.Value, CultureInfo.InvariantCulture), token.Line);
            case TokenKind.Name:
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpr(true, token.Line),
                    "false" or "False" => new LiteralExpr(false, token.Line),
                    "none" or "None" => new LiteralExpr(null, token.Line),
                    _ => new NameExpr(token.Value, token.Line),
                };
            case TokenKind.Operator when token.Value == "(":
            {
                if (IsOp(")")) { _pos++; return new ListExpr([], true, token.Line); }
                var first = ParseExpression();
                if (IsOp(")")) { _pos++; return first; }
                var items = new List<Expr> { first };
                while (IsOp(","))
                {
                    _pos++;
                    if (IsOp(")")) break;
                    items.Add(ParseExpression());
                }
                ExpectOp(")");
                return new ListExpr(items, true, token.Line);
            }
            case TokenKind.Operator when token.Value == "[":
            {
                var items = new List<Expr>();
                while (!IsOp("]"))
                {
                    items.Add(ParseExpression());
                    if (!IsOp("]")) ExpectOp(",");
                }
                _pos++;
                return new ListExpr(items, false, token.Line);
            }
            case TokenKind.Operator when token.Value == "{":
            {
                var items = new List<(Expr, Expr)>();
                while (!IsOp("}"))
                {
                    var key = ParseExpression();
                    ExpectOp(":");
                    items.Add((key, ParseExpression()));
                    if (!IsOp("}")) ExpectOp(",");
                }
                _pos++;
                return new DictExpr(items, token.Line);
            }
            default:
                throw new TemplateException($"unexpected '{token.Value}'", token.Line);
        }
    }
}
