namespace Serve.Cli.Publishing;

/// <summary>
/// The server's defaults as seen from the command line: its base model is models/base.gguf found by walking up from
/// the working directory, and its adapters directory (the publish registry) is models/adapters next to it.
/// </summary>
public static class BaseModelLocator
{
    public const string RelativePath = "models/base.gguf";

    public static string? Find(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models", "base.gguf");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>models/adapters under the first models/ directory above start (it need not exist yet).</summary>
    public static string? DefaultRegistry(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var models = Path.Combine(dir.FullName, "models");
            if (Directory.Exists(models)) return Path.Combine(models, "adapters");
        }
        return null;
    }
}
