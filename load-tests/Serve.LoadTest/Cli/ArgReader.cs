using System.Globalization;

namespace Serve.LoadTest.Cli;

/// <summary>Reads "--name value" options and "--flag" switches; whatever is left are positional arguments.</summary>
public sealed class ArgReader
{
    private readonly List<string> _args;

    public ArgReader(IEnumerable<string> args) => _args = [.. args];

    public bool Flag(string name) => _args.Remove(name);

    public string? Option(string name)
    {
        var i = _args.IndexOf(name);
        if (i < 0) return null;
        if (i + 1 >= _args.Count) throw new UsageException($"{name} needs a value");
        var value = _args[i + 1];
        _args.RemoveRange(i, 2);
        return value;
    }

    public double? Number(string name)
    {
        var text = Option(name);
        if (text is null) return null;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new UsageException($"{name}: '{text}' is not a number");
    }

    public int? Integer(string name) => Number(name) is { } v ? (int)v : null;

    /// <summary>The positional arguments; any leftover "--option" is a usage error.</summary>
    public IReadOnlyList<string> Rest()
    {
        var unknown = _args.FirstOrDefault(a => a.StartsWith("--", StringComparison.Ordinal));
        if (unknown is not null) throw new UsageException($"unknown option {unknown}");
        return _args;
    }
}
