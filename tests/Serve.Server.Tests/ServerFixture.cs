using Serve.Models;

namespace Serve.Server.Tests;

/// <summary>
/// One made base model, four adapters and some bad adapter files in a temp directory, and one server over them
/// with an API key and an admin key, shared by the tests. Tests that need other settings start their own server.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string ApiKey = "sk-test-key";
    public const string AdminKey = "admin-test-key";
    public static readonly string[] AdapterNames = ["a", "b", "c", "d"];

    public ServerFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "serve-server-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        ModelPath = ModelMaker.BuildTestModel(Directory, new LlamaModelSpec { ContextLength = 1024 });
        Sources = Path.Combine(Directory, "sources");
        System.IO.Directory.CreateDirectory(Sources);
        var seed = 11;
        foreach (var name in AdapterNames.Concat(["extra", "upload", "multi"]))
            LoraMaker.Write(Source(name), ModelPath, new LoraSpec { Seed = seed++ * 7, Std = 0.2f });
        LoraMaker.Write(Source("wrong-shapes"), ModelPath, new LoraSpec { Seed = 99, WrongShapes = true });
        LoraMaker.Write(Source("wrong-arch"), ModelPath, new LoraSpec { Seed = 98, ArchitectureOverride = "qwen2" });
        AdaptersDirectory = Path.Combine(Directory, "adapters");
        System.IO.Directory.CreateDirectory(AdaptersDirectory);
        foreach (var name in AdapterNames) File.Copy(Source(name), Path.Combine(AdaptersDirectory, name + ".gguf"));
    }

    public string Directory { get; }
    public string ModelPath { get; }
    public string Sources { get; }
    public string AdaptersDirectory { get; }
    public TestServer Server { get; private set; } = null!;

    /// <summary>The served name of the base model (its file name without extension).</summary>
    public string BaseName => Path.GetFileNameWithoutExtension(ModelPath);

    public string Source(string name) => Path.Combine(Sources, name + ".gguf");

    public HttpClient Client() => Server.Client(ApiKey);
    public HttpClient AdminClient() => Server.Client(AdminKey);

    public async Task InitializeAsync()
    {
        Server = await TestServer.StartAsync(ModelPath, AdaptersDirectory, new Dictionary<string, string?>
        {
            ["Serve:ApiKeys:0"] = ApiKey,
            ["Serve:AdminKey"] = AdminKey,
            ["Serve:AdapterImportDirectories:0"] = Sources,
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
