using System.Text;

namespace Serve.Templates.Jinja;

/// <summary>
/// A parsed Jinja template as chat templates use the language: output, if/elif/else, for (with loop, else,
/// filter condition, break/continue), set (also block set and namespace attributes), macros, filter blocks,
/// Python-like expressions with Jinja's filters and tests, and string/dict/list methods. Parsing once and
/// rendering many times is safe from several threads.
/// </summary>
public sealed class Template
{
    private readonly List<Node> _nodes;

    private Template(string source, List<Node> nodes)
    {
        Source = source;
        _nodes = nodes;
    }

    public string Source { get; }

    /// <summary>Parses the template; throws <see cref="TemplateException"/> with the line of a syntax error.</summary>
    public static Template Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new Template(source, Parser.Parse(source));
    }

    /// <summary>
    /// Renders with these variables (values: null, bool, long, double, string, List&lt;object?&gt;, JinjaObject).
    /// Throws <see cref="TemplateRaisedException"/> when the template calls raise_exception and
    /// <see cref="TemplateException"/> for any other error.
    /// </summary>
    public string Render(IReadOnlyDictionary<string, object?> variables, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var globals = new Scope(null);
        Builtins.AddGlobals(globals, clock ?? TimeProvider.System);
        var scope = new Scope(globals);
        foreach (var (name, value) in variables) scope.Set(name, value);
        var output = new StringBuilder();
        var interpreter = new Interpreter();
        interpreter.Execute(_nodes, scope, output);
        return output.ToString();
    }
}
