using System.Text;

namespace Serve.Cli.Publishing;

/// <summary>Writes through to another writer with every line indented, so a stage's own log nests under its header.</summary>
public sealed class IndentedWriter(TextWriter inner, string indent) : TextWriter
{
    private bool _lineStart = true;

    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value)
    {
        if (_lineStart && value is not ('\n' or '\r')) inner.Write(indent);
        inner.Write(value);
        _lineStart = value == '\n';
    }

    public override void Write(string? value)
    {
        foreach (var c in value ?? "") Write(c);
    }

    public override void Flush() => inner.Flush();
}
