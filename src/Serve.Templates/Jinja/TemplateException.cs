namespace Serve.Templates.Jinja;

/// <summary>A template that cannot be parsed or rendered; Line is 1-based (0 when unknown).</summary>
public class TemplateException(string message, int line = 0) : Exception(line > 0 ? $"{message} (template line {line})" : message)
{
    public int Line { get; } = line;
}

/// <summary>The template itself refused its input with raise_exception(message).</summary>
public sealed class TemplateRaisedException(string message) : TemplateException(message)
{
    public string TemplateMessage { get; } = message;
}
