using System.Diagnostics;
using Serve.Gguf;

namespace Serve.Models.Tests;

public class ModelMakerTests
{
    [Fact]
    public void BuildTestModel_DefaultSpec_IsFastAndReused()
    {
        using var dir = new TempDirectory();

        var sw = Stopwatch.StartNew();
        var path = ModelMaker.BuildTestModel(dir.Path);
        var elapsed = sw.Elapsed;

        Assert.True(File.Exists(path));
        Assert.EndsWith(".gguf", path);
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"took {elapsed}");
        var written = File.GetLastWriteTimeUtc(path);
        Assert.Equal(path, ModelMaker.BuildTestModel(dir.Path));
        Assert.Equal(written, File.GetLastWriteTimeUtc(path));
        Assert.NotEqual(path, ModelMaker.BuildTestModel(dir.Path, new LlamaModelSpec { Seed = 2 }));
    }

    [Fact]
    public void WriteLlama_SameSeed_WritesIdenticalBytes_DifferentSeedDiffers()
    {
        using var dir = new TempDirectory();
        var vocab = SpmTokenizerTrainer.Default(512);

        ModelMaker.Write(dir.File("a.gguf"), new LlamaModelSpec { Seed = 5 }, vocab);
        ModelMaker.Write(dir.File("b.gguf"), new LlamaModelSpec { Seed = 5 }, vocab);
        ModelMaker.Write(dir.File("c.gguf"), new LlamaModelSpec { Seed = 6 }, vocab);

        var a = File.ReadAllBytes(dir.File("a.gguf"));
        Assert.Equal(a, File.ReadAllBytes(dir.File("b.gguf")));
        var c = File.ReadAllBytes(dir.File("c.gguf"));
        Assert.Equal(a.Length, c.Length);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void WriteLlama_Metadata_HasEverythingLlamaCppReads()
    {
        using var dir = new TempDirectory();
        var spec = new LlamaModelSpec { EmbeddingLength = 96, HeadCount = 6, HeadCountKv = 3, FeedForwardLength = 160, ContextLength = 256, Seed = 3, Name = "meta" };

        ModelMaker.Write(dir.File("m.gguf"), spec, SpmTokenizerTrainer.Default(512));
        var md = GgufFile.Read(dir.File("m.gguf")).Metadata;

        Assert.Equal("llama", md["general.architecture"].AsString());
        Assert.Equal("meta", md["general.name"].AsString());
        Assert.Equal(0u, md["general.file_type"].AsUInt32());
        Assert.Equal(256u, md["llama.context_length"].AsUInt32());
        Assert.Equal(96u, md["llama.embedding_length"].AsUInt32());
        Assert.Equal(2u, md["llama.block_count"].AsUInt32());
        Assert.Equal(160u, md["llama.feed_forward_length"].AsUInt32());
        Assert.Equal(6u, md["llama.attention.head_count"].AsUInt32());
        Assert.Equal(3u, md["llama.attention.head_count_kv"].AsUInt32());
        Assert.Equal(16u, md["llama.rope.dimension_count"].AsUInt32());
        Assert.Equal(10000f, md["llama.rope.freq_base"].AsFloat32());
        Assert.Equal(1e-5f, md["llama.attention.layer_norm_rms_epsilon"].AsFloat32());
        Assert.Equal(512u, md["llama.vocab_size"].AsUInt32());
        Assert.Equal(3, md["serve.maker.seed"].AsInteger());

        Assert.Equal("llama", md["tokenizer.ggml.model"].AsString());
        Assert.Equal(512, md["tokenizer.ggml.tokens"].AsStringArray().Length);
        Assert.Equal(512, md["tokenizer.ggml.scores"].AsArray<float>().Length);
        var types = md["tokenizer.ggml.token_type"].AsArray<int>();
        Assert.Equal((int)TokenType.Byte, types[SpmVocabLayout.FirstByteId + 'A']);
        Assert.Equal((int)TokenType.Control, types[SpmVocabLayout.ImEndId]);
        Assert.Equal(1u, md["tokenizer.ggml.bos_token_id"].AsUInt32());
        Assert.Equal(2u, md["tokenizer.ggml.eos_token_id"].AsUInt32());
        Assert.Equal(0u, md["tokenizer.ggml.unknown_token_id"].AsUInt32());
        Assert.Equal((uint)SpmVocabLayout.ImEndId, md["tokenizer.ggml.eot_token_id"].AsUInt32());
        Assert.True(md["tokenizer.ggml.add_bos_token"].AsBool());
        Assert.False(md["tokenizer.ggml.add_eos_token"].AsBool());
        Assert.False(md["tokenizer.ggml.add_space_prefix"].AsBool());
        Assert.Contains("<|im_start|>", md["tokenizer.chat_template"].AsString());
    }

    [Theory]
    [InlineData(GgmlType.F32, false)]
    [InlineData(GgmlType.F16, false)]
    [InlineData(GgmlType.Q8_0, true)]
    public void WriteLlama_Tensors_HaveLlamaCppShapesAndTypes(GgmlType type, bool tied)
    {
        using var dir = new TempDirectory();
        var spec = new LlamaModelSpec { WeightType = type, TiedEmbeddings = tied, BlockCount = 3 };

        ModelMaker.Write(dir.File("m.gguf"), spec, SpmTokenizerTrainer.Default(512));
        var file = GgufFile.Read(dir.File("m.gguf"));
        var tensors = file.Tensors.ToDictionary(t => t.Name);

        const long e = 64, f = 128, v = 512, kv = 32; // kv = head size 16 x 2 kv heads
        var expected = new Dictionary<string, long[]>
        {
            ["token_embd.weight"] = [e, v],
            ["output_norm.weight"] = [e],
        };
        if (!tied) expected["output.weight"] = [e, v];
        for (var i = 0; i < 3; i++)
        {
            expected[$"blk.{i}.attn_norm.weight"] = [e];
            expected[$"blk.{i}.attn_q.weight"] = [e, e];
            expected[$"blk.{i}.attn_k.weight"] = [e, kv];
            expected[$"blk.{i}.attn_v.weight"] = [e, kv];
            expected[$"blk.{i}.attn_output.weight"] = [e, e];
            expected[$"blk.{i}.ffn_norm.weight"] = [e];
            expected[$"blk.{i}.ffn_gate.weight"] = [e, f];
            expected[$"blk.{i}.ffn_up.weight"] = [e, f];
            expected[$"blk.{i}.ffn_down.weight"] = [f, e];
        }

        Assert.Equal(expected.Keys.Order(), tensors.Keys.Order());
        foreach (var (name, shape) in expected)
        {
            Assert.Equal(shape, tensors[name].Shape);
            Assert.Equal(shape.Length == 1 ? GgmlType.F32 : type, tensors[name].Type);
        }
        Assert.Equal((uint)ModelMaker.FileType(type), file.Metadata["general.file_type"].AsUInt32());
        Assert.Equal(spec.ParameterCount, file.Tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)));
    }

    [Theory]
    [InlineData(3, 2)]   // 64 not divisible by 3 heads
    [InlineData(4, 3)]   // 4 heads not divisible by 3 kv heads
    public void WriteLlama_InvalidHeads_Throws(int heads, int kvHeads)
    {
        using var dir = new TempDirectory();
        var spec = new LlamaModelSpec { HeadCount = heads, HeadCountKv = kvHeads };

        var ex = Assert.ThrowsAny<ArgumentException>(() => ModelMaker.Write(dir.File("x.gguf"), spec, SpmTokenizerTrainer.Default(512)));
        Assert.Contains("HeadCount", ex.Message);
        Assert.False(File.Exists(dir.File("x.gguf")));
    }

    [Fact]
    public void WriteLlama_Q8WithUnalignedWidth_Throws()
    {
        var spec = new LlamaModelSpec { WeightType = GgmlType.Q8_0, EmbeddingLength = 48, HeadCount = 4, HeadCountKv = 2 };

        var ex = Assert.ThrowsAny<ArgumentException>(spec.Validate);
        Assert.Contains("32", ex.Message);
    }

    [Fact]
    public void WriteLlama_VocabSizeMismatch_Throws()
    {
        using var dir = new TempDirectory();

        Assert.ThrowsAny<ArgumentException>(() =>
            ModelMaker.Write(dir.File("x.gguf"), new LlamaModelSpec { VocabSize = 600 }, SpmTokenizerTrainer.Default(512)));
    }

    [Fact]
    public void SeededNormal_HasRequestedSpread_AndIsPerStream()
    {
        var values = new SeededNormal(1, "t").Fill(20000, 0.5f);
        var mean = values.Average();
        var std = Math.Sqrt(values.Select(x => (x - mean) * (x - mean)).Average());

        Assert.InRange(mean, -0.02, 0.02);
        Assert.InRange(std, 0.48, 0.52);
        Assert.Equal(values, new SeededNormal(1, "t").Fill(20000, 0.5f));
        Assert.NotEqual(values, new SeededNormal(1, "u").Fill(20000, 0.5f));
    }
}

public class TokenizerMetadataTests
{
    [Fact]
    public void Read_AfterWriteLlama_GivesBackTheVocabulary()
    {
        using var dir = new TempDirectory();
        var vocab = SpmTokenizerTrainer.Default(512);
        ModelMaker.Write(dir.File("m.gguf"), new LlamaModelSpec(), vocab);

        var read = TokenizerMetadata.Read(GgufFile.Read(dir.File("m.gguf")).Metadata);

        Assert.Equal(vocab.Tokens, read.Tokens);
        Assert.Equal(vocab.Scores, read.Scores);
        Assert.Equal(vocab.TokenTypes, read.TokenTypes);
        Assert.Equal((vocab.BosId, vocab.EosId, vocab.UnkId, vocab.EotId), (read.BosId, read.EosId, read.UnkId, read.EotId));
        Assert.Equal((vocab.AddBos, vocab.AddEos, vocab.AddSpacePrefix), (read.AddBos, read.AddEos, read.AddSpacePrefix));
        Assert.Equal(vocab.ChatTemplate, read.ChatTemplate);
        const string text = "The server answered in 35 ms. Ça va? 🙂";
        Assert.Equal(new SpmTokenizer(vocab).Encode(text), new SpmTokenizer(read).Encode(text));
    }
}
