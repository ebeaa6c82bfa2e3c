namespace Serve.Templates.Jinja;

internal abstract record Node(int Line);

internal sealed record TextNode(string Text, int Line) : Node(Line);
internal sealed record OutputNode(Expr Value, int Line) : Node(Line);
internal sealed record IfNode(List<(Expr Condition, List<Node> Body)> Branches, List<Node>? Else, int Line) : Node(Line);
internal sealed record ForNode(List<string> Targets, Expr Iterable, Expr? Condition, List<Node> Body, List<Node>? Else, int Line) : Node(Line);
internal sealed record SetNode(Expr Target, Expr Value, int Line) : Node(Line);
internal sealed record SetBlockNode(string Name, List<Node> Body, int Line) : Node(Line);
internal sealed record MacroNode(string Name, List<(string Name, Expr? Default)> Parameters, List<Node> Body, int Line) : Node(Line);
internal sealed record FilterBlockNode(FilterExpr Filter, List<Node> Body, int Line) : Node(Line);
internal sealed record LoopControlNode(bool IsBreak, int Line) : Node(Line);

internal abstract record Expr(int Line);

internal sealed record LiteralExpr(object? Value, int Line) : Expr(Line);
internal sealed record NameExpr(string Name, int Line) : Expr(Line);
internal sealed record ListExpr(List<Expr> Items, bool IsTuple, int Line) : Expr(Line);
internal sealed record DictExpr(List<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);
internal sealed record AttributeExpr(Expr Target, string Name, int Line) : Expr(Line);
internal sealed record IndexExpr(Expr Target, Expr Index, int Line) : Expr(Line);
internal sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);
internal sealed record CallExpr(Expr Function, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, int Line) : Expr(Line);
/// <summary>value | name(args); Value is null inside a filter block, where the body is the value.</summary>
internal sealed record FilterExpr(Expr? Value, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, int Line) : Expr(Line);
internal sealed record TestExpr(Expr Value, string Name, List<Expr> Args, bool Negated, int Line) : Expr(Line);
internal sealed record UnaryExpr(string Operator, Expr Operand, int Line) : Expr(Line);
internal sealed record BinaryExpr(string Operator, Expr Left, Expr Right, int Line) : Expr(Line);
internal sealed record ConditionalExpr(Expr Condition, Expr Then, Expr? Else, int Line) : Expr(Line);
