using System.Text.RegularExpressions;

namespace Serve.Engine.Adapters;

/// <summary>
/// Removes what interrupted atomic writes leave behind (a crash or kill -9 between writing a temp file and renaming
/// it): the catalog's <c>.&lt;name&gt;.&lt;guid&gt;.tmp</c> and <c>&lt;name&gt;.gguf.swap</c>, the publish registry's
/// <c>.&lt;file&gt;.&lt;guid&gt;.tmp</c> and GgufWriter's <c>&lt;file&gt;.tmp</c>. A file another process still holds
/// (an exclusive open, as File.Create and File.Copy take) or wrote to within minAge is left alone: a publish or a
/// second server may be writing into the same directory right now.
/// </summary>
public static partial class StaleTempFiles
{
    /// <summary>Deletes the stale temp files in directory (and its subdirectories when recursive); returns their paths.</summary>
    public static IReadOnlyList<string> Remove(string directory, TimeSpan minAge, bool recursive = false)
    {
        var removed = new List<string>();
        if (!Directory.Exists(directory)) return removed;
        var cutoff = DateTime.UtcNow - minAge;
        var options = new EnumerationOptions { RecurseSubdirectories = recursive, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true };
        foreach (var path in Directory.EnumerateFiles(directory, "*", options))
        {
            if (!IsTempName(Path.GetFileName(path))) continue;
            try
            {
                if (File.GetLastWriteTimeUtc(path) > cutoff) continue;
                // An exclusive open fails while a writer holds the file (.NET takes an advisory lock for FileShare.None).
                using (new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) { }
                File.Delete(path);
                removed.Add(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // In use, or gone already: not ours to force.
            }
        }
        return removed;
    }

    /// <summary>Whether a file name is one of the temp names atomic writes use.</summary>
    public static bool IsTempName(string fileName) => TempName().IsMatch(fileName);

    [GeneratedRegex(@"\A(?:\..+\.[0-9a-f]{32}\.tmp|.+\.gguf\.(?:swap|tmp))\z", RegexOptions.Singleline)]
    private static partial Regex TempName();
}
