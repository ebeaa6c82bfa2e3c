namespace Serve.Templates.Jinja;

/// <summary>
/// Variables of one block level. Jinja scoping: a for-loop body and a macro body get their own scope, so a
/// set inside a loop is gone after it (templates carry state out of loops with namespace()).
/// </summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public object? Get(string name)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s._vars.TryGetValue(name, out var v)) return v;
        return Undefined.Instance;
    }

    public void Set(string name, object? value) => _vars[name] = value;

    public Scope? Parent { get; } = parent;
}
