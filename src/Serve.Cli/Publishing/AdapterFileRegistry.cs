using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serve.Cli.Publishing;

/// <summary>
/// The file registry of published adapters, laid out so a server pointed at the same directory serves it as is:
/// <list type="bullet">
/// <item><c>&lt;registry&gt;/&lt;name&gt;.gguf</c>: the current version (what the server serves as model &lt;name&gt;);</item>
/// <item><c>&lt;registry&gt;/.versions/&lt;name&gt;/&lt;version&gt;.gguf</c>: every version ever published, never overwritten;</item>
/// <item><c>&lt;registry&gt;/.versions/&lt;name&gt;/history.json</c>: the versions' records, the stack of versions made current
/// (newest first; rollback pops it) and a log of publishes and rollbacks.</item>
/// </list>
/// A version is the first 16 hex digits of the file's SHA-256. Every write goes to a temp file in the target's
/// directory and is renamed over it, so a reader (or a crash) sees the old file or the new one, never half of one;
/// the current file is replaced last. Updates of one name are serialised by a lock file.
/// </summary>
public sealed class AdapterFileRegistry(string directory)
{
    public const string VersionsFolder = ".versions";
    public const int VersionLength = 16;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string Directory { get; } = Path.GetFullPath(directory);

    public string CurrentPath(string name) => Path.Combine(Directory, name + ".gguf");

    public string VersionPath(string name, string version) => Path.Combine(VersionsDirectory(name), version + ".gguf");

    private string VersionsDirectory(string name) => Path.Combine(Directory, VersionsFolder, name);

    private string HistoryPath(string name) => Path.Combine(VersionsDirectory(name), "history.json");

    public static string VersionOf(string sha256) => sha256[..VersionLength];

    public static string Sha256(string path) => Serve.Training.Training.TrainingSession.Sha256(path);

    /// <summary>
    /// Deletes the temp files that interrupted writes (a crash between writing and renaming) left in the registry and
    /// its version folders; ones written within minAge are kept, as another publish may be writing them.
    /// </summary>
    public IReadOnlyList<string> RemoveStaleTempFiles(TimeSpan minAge) => Serve.Engine.Adapters.StaleTempFiles.Remove(Directory, minAge, recursive: true);

    /// <summary>The name's history; an empty one when it was never published.</summary>
    public AdapterHistory Read(string name)
    {
        var path = HistoryPath(name);
        if (!File.Exists(path)) return new AdapterHistory { Name = name };
        try
        {
            return JsonSerializer.Deserialize<AdapterHistory>(File.ReadAllText(path), Json) ?? throw new InvalidDataException("null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid registry history: {e.Message}", e);
        }
    }

    /// <summary>
    /// Stores the adapter file as a new version (or reuses the stored one with the same content), makes it current
    /// and returns its record. The current file is replaced only after the version and its history are on disk.
    /// </summary>
    public AdapterVersion Publish(string name, string adapterPath, AdapterVersion record, IReadOnlyDictionary<string, string>? extraFiles = null)
    {
        using var _ = Lock(name);
        var history = Read(name);
        var existing = history.Versions.FirstOrDefault(v => v.Version == record.Version);
        var versionPath = VersionPath(name, record.Version);
        if (existing is null || !File.Exists(versionPath) || Sha256(versionPath) != record.Sha256)
            AtomicCopy(adapterPath, versionPath);
        foreach (var (suffix, source) in extraFiles ?? new Dictionary<string, string>())
            if (File.Exists(source)) AtomicCopy(source, Path.Combine(VersionsDirectory(name), record.Version + suffix));
        if (existing is null) history.Versions.Add(record);
        else record = existing;
        history.Current.Insert(0, record.Version);
        history.Log.Add(new AdapterHistoryEntry(DateTimeOffset.UtcNow, existing is null ? "published" : "republished", record.Version));
        WriteHistory(name, history);
        AtomicCopy(versionPath, CurrentPath(name));
        return record;
    }

    /// <summary>
    /// Makes an earlier version current again: the given one (pushed on the stack), or the one before the current
    /// (the stack is popped). Throws InvalidOperationException when there is none to go back to.
    /// </summary>
    public AdapterVersion Rollback(string name, string? toVersion)
    {
        using var _ = Lock(name);
        var history = Read(name);
        if (history.Versions.Count == 0) throw new ArgumentException($"'{name}' has never been published to {Directory}.");
        AdapterVersion target;
        if (toVersion is not null)
        {
            var matches = history.Versions.Where(v => v.Version.StartsWith(toVersion, StringComparison.OrdinalIgnoreCase)).ToList();
            if (matches.Count != 1)
                throw new ArgumentException(matches.Count == 0
                    ? $"'{name}' has no version {toVersion} (see: serve versions --name {name})."
                    : $"'{toVersion}' matches {matches.Count} versions of '{name}'; give more digits.");
            target = matches[0];
            history.Current.Insert(0, target.Version);
        }
        else
        {
            if (history.Current.Count < 2) throw new ArgumentException($"'{name}' has no earlier version to roll back to.");
            history.Current.RemoveAt(0);
            target = history.Versions.First(v => v.Version == history.Current[0]);
        }
        var versionPath = VersionPath(name, target.Version);
        if (!File.Exists(versionPath) || Sha256(versionPath) != target.Sha256)
            throw new InvalidDataException($"The stored file of '{name}' version {target.Version} is missing or altered: {versionPath}");
        history.Log.Add(new AdapterHistoryEntry(DateTimeOffset.UtcNow, "rollback", target.Version));
        WriteHistory(name, history);
        AtomicCopy(versionPath, CurrentPath(name));
        return target;
    }

    private void WriteHistory(string name, AdapterHistory history)
    {
        var path = HistoryPath(name);
        var temp = TempFor(path);
        File.WriteAllText(temp, JsonSerializer.Serialize(history, Json));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Copy next to the target, then rename over it: readers never see a partial file.</summary>
    private static void AtomicCopy(string source, string target)
    {
        var temp = TempFor(target);
        try
        {
            File.Copy(source, temp, overwrite: true);
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    // A leading dot and a .tmp end keep the server's directory scan (*.gguf, names starting with a letter) off it.
    private static string TempFor(string target)
    {
        var dir = Path.GetDirectoryName(target)!;
        System.IO.Directory.CreateDirectory(dir);
        return Path.Combine(dir, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
    }

    private FileStream Lock(string name)
    {
        var dir = VersionsDirectory(name);
        System.IO.Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, ".lock");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100); // another publish or rollback of this name is updating it
            }
        }
    }
}

/// <summary>history.json of one adapter name.</summary>
public sealed class AdapterHistory
{
    public string Name { get; set; } = "";

    /// <summary>Versions made current, newest first: [0] is serving now; rollback pops it.</summary>
    public List<string> Current { get; set; } = [];

    public List<AdapterVersion> Versions { get; set; } = [];

    public List<AdapterHistoryEntry> Log { get; set; } = [];

    public AdapterVersion? CurrentVersion => Current.Count == 0 ? null : Versions.FirstOrDefault(v => v.Version == Current[0]);
}

/// <summary>One published version: its identity, how it was trained and how it scored at the gate.</summary>
public sealed record AdapterVersion
{
    public required string Version { get; init; }
    public required string Sha256 { get; init; }
    public required DateTimeOffset Created { get; init; }
    public required string BaseSha256 { get; init; }
    public required int Rank { get; init; }
    public required float Alpha { get; init; }
    public long SizeBytes { get; init; }
    public string? Method { get; init; }
    public string? Dataset { get; init; }
    public string? DatasetSha256 { get; init; }
    public int Steps { get; init; }
    public PublishEval? Eval { get; init; }
}

/// <summary>The held-out numbers the gate judged.</summary>
public sealed record PublishEval(int Examples, double? BaseLoss, double? AdapterLoss, double BaseMatch, double AdapterMatch);

public sealed record AdapterHistoryEntry(DateTimeOffset At, string Action, string Version);
