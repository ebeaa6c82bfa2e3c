using System.Buffers.Binary;
using System.Text.Json;
using Serve.Gguf;
using Serve.Training.Export;
using Serve.Training.Lora;
using Serve.Training.Model;
using static TorchSharp.torch;

namespace Serve.Training.Tests;

[Collection(TrainingCollection.Name)]
public sealed class PeftTests(TrainingFixture fixture)
{
    private static readonly int[] Tokens = [1, 40, 41, 42, 300, 12, 77, 5, 260, 100];

    private (LlamaForCausalLM Model, LoraOptions Lora) TrainedStandIn(int seed)
    {
        var lora = new LoraOptions { Rank = 4, Alpha = 6, Dropout = 0, Targets = ["q", "k", "v", "down"] };
        var model = LlamaForCausalLM.Load(fixture.ModelPath, new LlamaLoadOptions { Lora = lora, Seed = seed });
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var p in model.LoraLinears()) p.Linear.B.copy_(randn(p.Linear.B.shape, generator: generator) * 0.3);
        return (model, lora);
    }

    [Fact]
    public void ExportThenImport_FactorsRoundTripExactly_QkRowsPermutedInPeft()
    {
        var (model, lora) = TrainedStandIn(8);
        using var _ = model;
        var factors = GgufAdapterWriter.Factors(model);
        var dir = fixture.TempPath("peft-roundtrip");
        PeftAdapter.Export(dir, factors, lora, model.Config);

        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapter.ConfigFile))).RootElement;
        Assert.Equal("LORA", config.GetProperty("peft_type").GetString());
        Assert.Equal(4, config.GetProperty("r").GetInt32());
        Assert.Equal(["q_proj", "k_proj", "v_proj", "down_proj"], config.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));

        var tensors = SafeTensorsFile.Read(Path.Combine(dir, PeftAdapter.WeightsFile));
        var q = factors.Single(f => f.Layer == 0 && f.Target == "q");
        var v = factors.Single(f => f.Layer == 0 && f.Target == "v");
        var peftQ = tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"];
        Assert.Equal([q.Out, q.Rank], peftQ.Shape);
        Assert.NotEqual(q.B, peftQ.Values);
        Assert.Equal(q.A, tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].Values);
        Assert.Equal(v.B, tensors["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"].Values);

        using var baseFile = GgufFile.Read(fixture.ModelPath);
        var (imported, importedLora) = PeftAdapter.Import(dir, baseFile);
        Assert.Equal(lora.Scale, importedLora.Scale, 12);
        Assert.Equal(factors.Count, imported.Count);
        foreach (var (a, b) in factors.Zip(imported))
        {
            Assert.Equal(a.BaseTensor, b.BaseTensor);
            Assert.Equal(a.A, b.A);
            Assert.Equal(a.B, b.B);
        }
    }

    [Fact]
    public void Import_PeftAdapter_ToGguf_LlamaCppMatchesTorchWithin1e3()
    {
        var (model, lora) = TrainedStandIn(9);
        using var _ = model;
        var dir = fixture.TempPath("peft-import");
        PeftAdapter.Export(dir, GgufAdapterWriter.Factors(model), lora with { RsLora = true, Alpha = 12 }, model.Config);
        using var baseFile = GgufFile.Read(fixture.ModelPath);
        var (factors, imported) = PeftAdapter.Import(dir, baseFile);
        var path = fixture.TempPath("peft-import.gguf");
        GgufAdapterWriter.Write(path, "llama", imported.Scale, factors);

        using var reloaded = LlamaForCausalLM.Load(fixture.ModelPath, new LlamaLoadOptions { Lora = imported });
        AdapterLoader.CopyInto(reloaded, factors);
        var diff = LlamaCppReference.MaxAbsDiff(TorchLogits.Of(reloaded, Tokens), LlamaCppReference.Logits(fixture.ModelPath, Tokens, path));
        Assert.True(diff <= 1e-3f, $"max abs difference {diff}");
        Assert.Equal(12 / Math.Sqrt(4), imported.Scale, 6);
    }

    [Fact]
    public void PermuteRows_MapsAdjacentPairRopeOntoHuggingFaceRotateHalf()
    {
        // HF's RoPE on the permuted rows equals the permuted result of llama.cpp's RoPE: the layouts agree.
        const int heads = 2, dim = 8, positions = 5;
        using var rope = new RotaryEmbedding(dim, positions, 10000);
        var q = randn([1, positions, heads, dim], generator: new Generator(3));
        var gguf = rope.Apply(q);
        for (var p = 0; p < positions; p++)
        {
            var row = q[0, p].contiguous().data<float>().ToArray();
            var hf = PeftAdapter.PermuteRows(row, 1, heads, dim, toHuggingFace: true);
            var rotated = new float[hf.Length];
            for (var h = 0; h < heads; h++)
            {
                for (var i = 0; i < dim / 2; i++)
                {
                    var theta = p * Math.Pow(10000, -2.0 * i / dim);
                    float x1 = hf[h * dim + i], x2 = hf[h * dim + dim / 2 + i];
                    rotated[h * dim + i] = (float)(x1 * Math.Cos(theta) - x2 * Math.Sin(theta));
                    rotated[h * dim + dim / 2 + i] = (float)(x2 * Math.Cos(theta) + x1 * Math.Sin(theta));
                }
            }
            var expected = PeftAdapter.PermuteRows(gguf[0, p].contiguous().data<float>().ToArray(), 1, heads, dim, toHuggingFace: true);
            for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], rotated[i], 5);
            Assert.Equal(row, PeftAdapter.PermuteRows(hf, 1, heads, dim, toHuggingFace: false));
        }
    }

    [Fact]
    public void SafeTensors_Write_HeaderLayoutAndRoundTrip()
    {
        var path = fixture.TempPath("t.safetensors");
        SafeTensorsFile.Write(path, [("a", [2, 3], [1, 2, 3, 4, 5, 6]), ("b", [1], [-0.5f])], new Dictionary<string, string> { ["format"] = "pt" });
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, headerLength % 8);
        Assert.Equal(8 + headerLength + 7 * 4, bytes.Length);
        var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength)).RootElement;
        Assert.Equal("F32", header.GetProperty("a").GetProperty("dtype").GetString());
        Assert.Equal([24L, 28L], header.GetProperty("b").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        var read = SafeTensorsFile.Read(path);
        Assert.Equal([1f, 2, 3, 4, 5, 6], read["a"].Values);
        Assert.Equal([2L, 3], read["a"].Shape);
        Assert.Equal([-0.5f], read["b"].Values);
    }
}
