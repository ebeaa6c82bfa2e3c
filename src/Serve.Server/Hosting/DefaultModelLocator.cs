namespace Serve.Server.Hosting;

/// <summary>
/// Finds the repository's default base model, models/base.gguf, by walking up from the given directories; its demo
/// adapters are the *.gguf files in models/adapters beside it.
/// </summary>
public static class DefaultModelLocator
{
    public const string RelativePath = "models/base.gguf";

    public const string HowToMakeIt =
        "Pass --model <base.gguf> (or set Serve:Engine:Model), or make the default model: " +
        "scripts/make-models (trains it from scratch, with the demo adapters; see models/README.md)";

    /// <summary>The adapters directory that goes with a default model found at <paramref name="modelPath"/>, when it exists.</summary>
    public static string? AdaptersBeside(string modelPath)
    {
        var directory = Path.Combine(Path.GetDirectoryName(modelPath) ?? ".", "adapters");
        return Directory.Exists(directory) ? directory : null;
    }

    /// <summary>The first models/base.gguf above any start directory, or null (with the places looked at).</summary>
    public static string? Find(IEnumerable<string> startDirectories, out IReadOnlyList<string> looked)
    {
        var tried = new List<string>();
        looked = tried;
        foreach (var start in startDirectories.Where(d => !string.IsNullOrEmpty(d)).Distinct())
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models", "base.gguf");
                if (tried.Contains(candidate)) break;
                tried.Add(candidate);
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }
}
