namespace Serve.Server.Hosting;

/// <summary>Finds the repository's default base model, models/base.gguf, by walking up from the given directories.</summary>
public static class DefaultModelLocator
{
    public const string RelativePath = "models/base.gguf";

    public const string HowToMakeIt =
        "Pass --model <base.gguf> (or set Serve:Engine:Model), or make the default model: " +
        "dotnet run --project src/Serve.Cli -- make-model --out models/base.gguf";

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
