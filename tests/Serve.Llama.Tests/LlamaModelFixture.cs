using Serve.Models;

namespace Serve.Llama.Tests;

/// <summary>
/// Builds the default tiny test model and a set of adapters (good, wrong shapes, wrong architecture, truncated)
/// once in a temp directory, loads the model, and deletes everything afterwards.
/// </summary>
public sealed class LlamaModelFixture : IDisposable
{
    public LlamaModelFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "serve-llama-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        ModelPath = ModelMaker.BuildTestModel(Directory);
        Model = LlamaModel.Load(ModelPath);

        AdapterA = Path.Combine(Directory, "a.gguf");
        AdapterB = Path.Combine(Directory, "b.gguf");
        WrongShapes = Path.Combine(Directory, "wrong-shapes.gguf");
        WrongArchitecture = Path.Combine(Directory, "wrong-arch.gguf");
        Truncated = Path.Combine(Directory, "truncated.gguf");
        LoraMaker.Write(AdapterA, ModelPath, new LoraSpec { Seed = 11 });
        LoraMaker.Write(AdapterB, ModelPath, new LoraSpec { Seed = 22 });
        LoraMaker.Write(WrongShapes, ModelPath, new LoraSpec { Seed = 33, WrongShapes = true });
        LoraMaker.Write(WrongArchitecture, ModelPath, new LoraSpec { Seed = 44, ArchitectureOverride = "qwen2" });
        var bytes = File.ReadAllBytes(AdapterA);
        File.WriteAllBytes(Truncated, bytes[..(bytes.Length * 2 / 3)]);
    }

    public string Directory { get; }
    public string ModelPath { get; }
    public LlamaModel Model { get; }
    public string AdapterA { get; }
    public string AdapterB { get; }
    public string WrongShapes { get; }
    public string WrongArchitecture { get; }
    public string Truncated { get; }

    /// <summary>A small context; threads kept at 2 for the shared CI cores.</summary>
    public LlamaContext CreateContext(int seqMax = 1, int contextSize = 256) =>
        LlamaContext.Create(Model, new LlamaContextOptions { ContextSize = contextSize, SeqMax = seqMax, BatchSize = 256, UBatchSize = 256, Threads = 2 });

    public void Dispose()
    {
        Model.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class LlamaModelCollection : ICollectionFixture<LlamaModelFixture>
{
    public const string Name = "llama model";
}
