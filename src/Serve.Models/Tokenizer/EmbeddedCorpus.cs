namespace Serve.Models;

/// <summary>The project's own English text, embedded so nothing has to be downloaded to build a model.</summary>
public static class EmbeddedCorpus
{
    private static readonly Lazy<string> Lazy = new(() =>
    {
        using var stream = typeof(EmbeddedCorpus).Assembly.GetManifestResourceStream("Serve.Models.corpus.txt")
            ?? throw new InvalidOperationException("embedded corpus Serve.Models.corpus.txt is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Replace("\r\n", "\n");
    });

    public static string Text => Lazy.Value;
}
