using Serve.Cli.Publishing;

namespace Serve.Cli.Tests;

/// <summary>The file registry on its own: layout, history, rollback semantics, no partial files left behind.</summary>
public sealed class AdapterFileRegistryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("serve-registry-tests-").FullName;

    private string Adapter(string content)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".bin");
        File.WriteAllText(path, content);
        return path;
    }

    private static AdapterVersion Record(string path)
    {
        var sha = AdapterFileRegistry.Sha256(path);
        return new AdapterVersion { Version = AdapterFileRegistry.VersionOf(sha), Sha256 = sha, Created = DateTimeOffset.UtcNow, BaseSha256 = new string('b', 64), Rank = 8, Alpha = 16 };
    }

    [Fact]
    public void RemoveStaleTempFiles_ClearsWhatACrashedPublishLeft_AndKeepsFreshOnesAndRealFiles()
    {
        var registry = new AdapterFileRegistry(Path.Combine(_dir, "crashed"));
        var a = Adapter("one");
        var v = registry.Publish("x", a, Record(a));
        var versions = Path.GetDirectoryName(registry.VersionPath("x", v.Version))!;
        var stale = new[]
        {
            Path.Combine(registry.Directory, $".x.gguf.{Guid.NewGuid():N}.tmp"),
            Path.Combine(versions, $".history.json.{Guid.NewGuid():N}.tmp"),
            Path.Combine(versions, $".{v.Version}.gguf.{Guid.NewGuid():N}.tmp"),
        };
        foreach (var path in stale)
        {
            File.WriteAllText(path, "half a file");
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-2));
        }
        var fresh = Path.Combine(registry.Directory, $".y.gguf.{Guid.NewGuid():N}.tmp"); // a publish in progress
        File.WriteAllText(fresh, "being written");

        var removed = registry.RemoveStaleTempFiles(TimeSpan.FromMinutes(1));

        Assert.Equal(stale.Order(), removed.Order());
        Assert.All(stale, path => Assert.False(File.Exists(path)));
        Assert.True(File.Exists(fresh));
        Assert.True(File.Exists(registry.CurrentPath("x")));
        Assert.True(File.Exists(registry.VersionPath("x", v.Version)));
        Assert.Equal([v.Version], registry.Read("x").Current);
    }

    [Fact]
    public void Publish_KeepsEveryVersion_CurrentIsTheNewest_RollbackPopsThenPushes()
    {
        var registry = new AdapterFileRegistry(Path.Combine(_dir, "reg"));
        var (a, b, c) = (Adapter("one"), Adapter("two"), Adapter("three"));
        var va = registry.Publish("x", a, Record(a));
        var vb = registry.Publish("x", b, Record(b));
        var vc = registry.Publish("x", c, Record(c));

        Assert.Equal("three", File.ReadAllText(registry.CurrentPath("x")));
        foreach (var v in new[] { va, vb, vc }) Assert.True(File.Exists(registry.VersionPath("x", v.Version)));
        Assert.Equal([vc.Version, vb.Version, va.Version], registry.Read("x").Current);

        Assert.Equal(vb.Version, registry.Rollback("x", null).Version);
        Assert.Equal("two", File.ReadAllText(registry.CurrentPath("x")));
        Assert.Equal(va.Version, registry.Rollback("x", null).Version);
        Assert.Contains("no earlier version", Assert.Throws<ArgumentException>(() => registry.Rollback("x", null)).Message);
        Assert.Equal("one", File.ReadAllText(registry.CurrentPath("x")));

        Assert.Equal(vc.Version, registry.Rollback("x", vc.Version[..6]).Version);
        Assert.Equal("three", File.ReadAllText(registry.CurrentPath("x")));
        Assert.Equal(["published", "published", "published", "rollback", "rollback", "rollback"], registry.Read("x").Log.Select(e => e.Action));
        // No temp file is left next to the served file or the versions.
        Assert.Empty(Directory.GetFiles(registry.Directory, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Publish_SameContentTwice_OneVersionMadeCurrentAgain()
    {
        var registry = new AdapterFileRegistry(Path.Combine(_dir, "reg"));
        var a = Adapter("same");
        registry.Publish("y", a, Record(a));
        var b = Adapter("other");
        registry.Publish("y", b, Record(b));
        var again = registry.Publish("y", a, Record(a));

        var history = registry.Read("y");
        Assert.Equal(2, history.Versions.Count);
        Assert.Equal(again.Version, history.CurrentVersion!.Version);
        Assert.Equal("republished", history.Log[^1].Action);
        Assert.Equal("same", File.ReadAllText(registry.CurrentPath("y")));
    }

    [Fact]
    public void Rollback_UnknownOrAlteredVersion_RefusedAndCurrentUntouched()
    {
        var registry = new AdapterFileRegistry(Path.Combine(_dir, "reg"));
        var (a, b) = (Adapter("first"), Adapter("second"));
        var va = registry.Publish("z", a, Record(a));
        registry.Publish("z", b, Record(b));

        Assert.Contains("has no version", Assert.Throws<ArgumentException>(() => registry.Rollback("z", "ffffffff")).Message);
        Assert.Contains("never been published", Assert.Throws<ArgumentException>(() => registry.Rollback("nobody", null)).Message);
        File.WriteAllText(registry.VersionPath("z", va.Version), "tampered");
        Assert.Throws<InvalidDataException>(() => registry.Rollback("z", null));
        Assert.Equal("second", File.ReadAllText(registry.CurrentPath("z")));
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
