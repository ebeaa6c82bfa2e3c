using Serve.Llama.Native;
using Serve.Models;

namespace Serve.Engine.Tests;

/// <summary>
/// A made model and adapters in a temp directory, shared by the engine tests. Each test starts its own engine
/// (a few milliseconds for this model) with the options it is about.
/// </summary>
public sealed class EngineFixture : IDisposable
{
    public EngineFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "serve-engine-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        ModelPath = ModelMaker.BuildTestModel(Directory, new LlamaModelSpec { ContextLength = 1024 });
        Sources = Path.Combine(Directory, "sources");
        System.IO.Directory.CreateDirectory(Sources);
        AdapterA = Path.Combine(Sources, "a.gguf");
        AdapterB = Path.Combine(Sources, "b.gguf");
        AdapterA2 = Path.Combine(Sources, "a2.gguf");
        AdapterC = Path.Combine(Sources, "c.gguf");
        AdapterD = Path.Combine(Sources, "d.gguf");
        WrongShapes = Path.Combine(Sources, "wrong-shapes.gguf");
        WrongArchitecture = Path.Combine(Sources, "wrong-arch.gguf");
        Truncated = Path.Combine(Sources, "truncated.gguf");
        LoraMaker.Write(AdapterA, ModelPath, new LoraSpec { Seed = 11, Std = 0.2f });
        LoraMaker.Write(AdapterB, ModelPath, new LoraSpec { Seed = 22, Std = 0.2f });
        LoraMaker.Write(AdapterA2, ModelPath, new LoraSpec { Seed = 33, Std = 0.2f });
        LoraMaker.Write(AdapterC, ModelPath, new LoraSpec { Seed = 66, Std = 0.2f, Rank = 8, Targets = ["attn_q", "attn_v", "ffn_down"] });
        LoraMaker.Write(AdapterD, ModelPath, new LoraSpec { Seed = 77, Std = 0.2f, Rank = 4, Targets = ["attn_k", "ffn_gate", "ffn_up", "output"] });
        LoraMaker.Write(WrongShapes, ModelPath, new LoraSpec { Seed = 44, WrongShapes = true });
        LoraMaker.Write(WrongArchitecture, ModelPath, new LoraSpec { Seed = 55, ArchitectureOverride = "qwen2" });
        var bytes = File.ReadAllBytes(AdapterA);
        File.WriteAllBytes(Truncated, bytes[..(bytes.Length * 2 / 3)]);
    }

    public string Directory { get; }
    public string ModelPath { get; }
    public string Sources { get; }
    public string AdapterA { get; }
    public string AdapterB { get; }
    public string AdapterA2 { get; }
    public string AdapterC { get; }
    /// <summary>Rank 4 on attn_k, ffn_gate, ffn_up and the output projection (not a blk.N tensor).</summary>
    public string AdapterD { get; }
    public string WrongShapes { get; }
    public string WrongArchitecture { get; }
    public string Truncated { get; }

    /// <summary>A fresh adapters directory holding copies of the named source adapters ("a" -> a.gguf).</summary>
    public string AdapterDirectory(params string[] names)
    {
        var dir = Path.Combine(Directory, "adapters-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        foreach (var name in names) File.Copy(Path.Combine(Sources, name + ".gguf"), Path.Combine(dir, name + ".gguf"));
        return dir;
    }

    /// <summary>Exact arithmetic (no flash attention, F32 KV) so batched and lone decodes agree token for token.</summary>
    public EngineOptions Options(string? adapters = null) => new()
    {
        ModelPath = ModelPath,
        AdaptersDirectory = adapters ?? AdapterDirectory("a", "b"),
        MaxSequences = 8,
        ContextPerSequence = 512,
        BatchSize = 512,
        PrefillChunk = 64,
        Threads = 2,
        FlashAttention = LlamaFlashAttnType.Disabled,
        KvCacheType = GgmlType.F32,
    };

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class EngineCollection : ICollectionFixture<EngineFixture>
{
    public const string Name = "engine";
}
