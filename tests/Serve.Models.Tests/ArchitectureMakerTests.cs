using Serve.Gguf;
using Serve.Llama;

namespace Serve.Models.Tests;

/// <summary>Every architecture the maker writes is loaded by llama.cpp with llama.cpp's own tensor names and keys.</summary>
public class ArchitectureMakerTests
{
    private static readonly LlamaModelSpec Small = new() { EmbeddingLength = 64, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 128, ContextLength = 128 };

    public static TheoryData<string> Architectures => [.. ModelArchitectures.All];

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Write_EachArchitecture_LlamaCppLoadsIt(string architecture)
    {
        using var dir = new TempDirectory();
        var spec = Small with
        {
            Architecture = architecture, Name = "made-" + architecture.Replace("phi3", "fused", StringComparison.Ordinal),
            TiedEmbeddings = architecture == ModelArchitectures.Gemma2,
            SlidingWindow = architecture is ModelArchitectures.Gemma2 or ModelArchitectures.Gemma3 ? 8 : 0,
        };
        var path = ModelMaker.BuildTestModel(dir.Path, spec);
        using (var file = GgufFile.Read(path))
        {
            Assert.Equal(architecture, file.Architecture);
            Assert.Equal(64, file.GetInteger($"{architecture}.embedding_length"));
            var names = file.Tensors.Select(t => t.Name).ToHashSet();
            Assert.Equal(architecture == ModelArchitectures.Phi3, names.Contains("blk.0.attn_qkv.weight"));
            Assert.Equal(architecture == ModelArchitectures.Qwen2, names.Contains("blk.0.attn_q.bias"));
            Assert.Equal(architecture is ModelArchitectures.Qwen3 or ModelArchitectures.Gemma3, names.Contains("blk.1.attn_q_norm.weight"));
            Assert.Equal(architecture is ModelArchitectures.Gemma2 or ModelArchitectures.Gemma3, names.Contains("blk.1.post_ffw_norm.weight"));
        }
        using var model = LlamaModel.Load(path);
        Assert.Equal(2, model.LayerCount);
    }

    [Fact]
    public void Write_LlamaWithRopeFreqsBiasesAndKeyLength_LlamaCppLoadsIt()
    {
        using var dir = new TempDirectory();
        var path = ModelMaker.BuildTestModel(dir.Path, Small with { RopeFreqs = true, Biases = true, KeyLength = 32, Name = "llama-extras" });
        using (var file = GgufFile.Read(path))
        {
            Assert.Equal(32, file.GetInteger("llama.attention.key_length"));
            Assert.Equal([16L], file.GetTensor("rope_freqs.weight").Shape);
            Assert.Equal([64L, 128L], file.GetTensor("blk.0.attn_q.weight").Shape);
            Assert.Equal([128L, 64L], file.GetTensor("blk.0.attn_output.weight").Shape);
            Assert.True(file.TryGetTensor("blk.1.ffn_down.bias", out _));
        }
        using var model = LlamaModel.Load(path);
        Assert.Equal(2, model.LayerCount);
    }

    [Fact]
    public void Validate_OptionTheArchitectureDoesNotHave_Refused()
    {
        Assert.Throws<ArgumentException>(() => (Small with { Architecture = "mamba" }).Validate());
        Assert.Throws<ArgumentException>(() => (Small with { Architecture = ModelArchitectures.Qwen3, Biases = true }).Validate());
        Assert.Throws<ArgumentException>(() => (Small with { Architecture = ModelArchitectures.Llama, SlidingWindow = 4 }).Validate());
        Assert.Throws<ArgumentException>(() => (Small with { Architecture = ModelArchitectures.Gemma2 }).Validate()); // gemma2 is always tied
    }
}
