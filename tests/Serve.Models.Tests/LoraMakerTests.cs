using Serve.Gguf;

namespace Serve.Models.Tests;

public class LoraMakerTests
{
    [Fact]
    public void Write_DefaultSpec_HasLlamaCppShapesForEveryLayerAndTarget()
    {
        using var dir = new TempDirectory();
        var basePath = ModelMaker.BuildTestModel(dir.Path);
        var adapter = dir.File("a.gguf");

        LoraMaker.Write(adapter, basePath, new LoraSpec { Rank = 4 });
        var baseTensors = GgufFile.Read(basePath).Tensors.ToDictionary(t => t.Name);
        var tensors = GgufFile.Read(adapter).Tensors.ToDictionary(t => t.Name);

        Assert.Equal(2 * 7 * 2, tensors.Count);
        foreach (var target in LoraSpec.AllTargets)
        {
            for (var i = 0; i < 2; i++)
            {
                var name = $"blk.{i}.{target}.weight";
                var w = baseTensors[name].Shape;
                Assert.Equal([w[0], 4L], tensors[$"{name}.lora_a"].Shape);
                Assert.Equal([4L, w[1]], tensors[$"{name}.lora_b"].Shape);
                Assert.Equal(GgmlType.F32, tensors[$"{name}.lora_a"].Type);
            }
        }
    }

    [Fact]
    public void Write_F16_StoresHalvesOfTheSameValues()
    {
        using var dir = new TempDirectory();
        var basePath = ModelMaker.BuildTestModel(dir.Path);
        LoraMaker.Write(dir.File("f32.gguf"), basePath, new LoraSpec { Seed = 3, Rank = 4, Targets = ["attn_q"] });
        LoraMaker.Write(dir.File("f16.gguf"), basePath, new LoraSpec { Seed = 3, Rank = 4, Targets = ["attn_q"], WeightType = GgmlType.F16 });
        using var f32 = GgufFile.Read(dir.File("f32.gguf"));
        using var f16 = GgufFile.Read(dir.File("f16.gguf"));
        const string name = "blk.0.attn_q.weight.lora_a";
        Assert.Equal(GgmlType.F16, f16.Tensors.Single(t => t.Name == name).Type);
        Assert.Equal(f32.Tensors.Single(t => t.Name == name).Shape, f16.Tensors.Single(t => t.Name == name).Shape);
        var a = f32.ReadTensorAsFloat32(f32.Tensors.Single(t => t.Name == name));
        var b = f16.ReadTensorAsFloat32(f16.Tensors.Single(t => t.Name == name));
        Assert.Equal(a.Length, b.Length);
        for (var i = 0; i < a.Length; i++) Assert.Equal((float)(Half)a[i], b[i]);
    }

    [Fact]
    public void Write_Metadata_NamesAdapterAndBase()
    {
        using var dir = new TempDirectory();
        var basePath = ModelMaker.BuildTestModel(dir.Path);
        var adapter = dir.File("a.gguf");

        LoraMaker.Write(adapter, basePath, new LoraSpec { Alpha = 16, Rank = 8 });
        var md = GgufFile.Read(adapter).Metadata;

        Assert.Equal("adapter", md["general.type"].AsString());
        Assert.Equal("llama", md["general.architecture"].AsString());
        Assert.Equal("lora", md["adapter.type"].AsString());
        Assert.Equal(16f, md["adapter.lora.alpha"].AsFloat32());
        Assert.Equal(8, md["serve.adapter.rank"].AsInteger());
        var hash = md["serve.adapter.base_hash"].AsString();
        Assert.Equal(64, hash.Length);
        Assert.Equal(Serve.Gguf.GgufFile.Sha256(basePath), hash);
    }

    [Fact]
    public void Write_SameSeed_IdenticalBytes_DifferentSeedDiffers()
    {
        using var dir = new TempDirectory();
        var basePath = ModelMaker.BuildTestModel(dir.Path);

        LoraMaker.Write(dir.File("a.gguf"), basePath, new LoraSpec { Seed = 9 });
        LoraMaker.Write(dir.File("b.gguf"), basePath, new LoraSpec { Seed = 9 });
        LoraMaker.Write(dir.File("c.gguf"), basePath, new LoraSpec { Seed = 10 });

        Assert.Equal(File.ReadAllBytes(dir.File("a.gguf")), File.ReadAllBytes(dir.File("b.gguf")));
        Assert.NotEqual(File.ReadAllBytes(dir.File("a.gguf")), File.ReadAllBytes(dir.File("c.gguf")));
    }

    [Fact]
    public void Write_TargetSubset_OnlyThoseTensors()
    {
        using var dir = new TempDirectory();
        var basePath = ModelMaker.BuildTestModel(dir.Path, new LlamaModelSpec { BlockCount = 3 });

        LoraMaker.Write(dir.File("a.gguf"), basePath, new LoraSpec { Targets = ["attn_q", "ffn_down"] });
        var names = GgufFile.Read(dir.File("a.gguf")).Tensors.Select(t => t.Name).ToHashSet();

        Assert.Equal(3 * 2 * 2, names.Count);
        Assert.Contains("blk.2.ffn_down.weight.lora_b", names);
        Assert.DoesNotContain("blk.0.attn_k.weight.lora_a", names);
    }

    [Fact]
    public void Write_NegativeVariants_BreakWhatLlamaCppChecks()
    {
        using var dir = new TempDirectory();
        var basePath = ModelMaker.BuildTestModel(dir.Path);

        LoraMaker.Write(dir.File("wrong.gguf"), basePath, new LoraSpec { WrongShapes = true });
        LoraMaker.Write(dir.File("gpt2.gguf"), basePath, new LoraSpec { ArchitectureOverride = "gpt2" });

        var wrong = GgufFile.Read(dir.File("wrong.gguf")).Tensors.Single(t => t.Name == "blk.0.attn_q.weight.lora_a");
        Assert.Equal([65L, 4L], wrong.Shape);
        Assert.Equal("gpt2", GgufFile.Read(dir.File("gpt2.gguf")).Metadata["general.architecture"].AsString());
    }

    [Fact]
    public void Write_UnknownTarget_Throws()
    {
        using var dir = new TempDirectory();
        var basePath = ModelMaker.BuildTestModel(dir.Path);

        var ex = Assert.ThrowsAny<ArgumentException>(() => LoraMaker.Write(dir.File("a.gguf"), basePath, new LoraSpec { Targets = ["attn_qkv"] }));
        Assert.Contains("attn_qkv", ex.Message);
    }
}
