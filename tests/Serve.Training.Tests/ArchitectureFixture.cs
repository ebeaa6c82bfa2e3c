using Serve.Gguf;
using Serve.Models;

namespace Serve.Training.Tests;

/// <summary>
/// One tiny made model per architecture the trainer supports, each with what makes that family differ from plain
/// llama turned on, and weights/norms large enough that a missed detail shows in the logits. Made in well under a
/// second each.
/// </summary>
public sealed class ArchitectureFixture : IDisposable
{
    private static readonly LlamaModelSpec Common = new()
    {
        EmbeddingLength = 64, BlockCount = 2, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 128, ContextLength = 256,
        InitStd = 0.25f, NormStd = 0.2f, VocabSize = 512, Seed = 21,
    };

    /// <summary>Name of each case to its spec: the theory data of the parity tests.</summary>
    public static readonly IReadOnlyDictionary<string, LlamaModelSpec> Specs = new Dictionary<string, LlamaModelSpec>
    {
        // Llama 3.1-style rope_freqs and a large base, biases everywhere, Mistral-Nemo-style head size (32 x 4 != 64).
        ["llama"] = Common with { Architecture = ModelArchitectures.Llama, Name = "arch-llama", RopeFreqs = true, RopeFreqBase = 500000, Biases = true, KeyLength = 32 },
        ["qwen2"] = Common with { Architecture = ModelArchitectures.Qwen2, Name = "arch-qwen2", RopeFreqBase = 1000000 },
        ["qwen3"] = Common with { Architecture = ModelArchitectures.Qwen3, Name = "arch-qwen3", KeyLength = 32, TiedEmbeddings = true },
        ["phi3"] = Common with { Architecture = ModelArchitectures.Phi3, Name = "arch-fused" } /* a name with "phi3" in it makes llama.cpp expect Phi-3's own special tokens */,
        // Small caps and windows so that soft-capping and sliding windows act on a 20-token prompt. Gemma multiplies
        // the embedding by sqrt(embd) = 8, so its weights are drawn smaller (as real Gemma embeddings are): otherwise
        // hidden states are ~8x the other cases' and float32 summation-order noise alone nears 1e-3 in the logits.
        ["gemma2"] = Common with
        {
            Architecture = ModelArchitectures.Gemma2, Name = "arch-gemma2", BlockCount = 3, InitStd = 0.15f, TiedEmbeddings = true, SlidingWindow = 5,
            AttentionSoftcap = 3f, FinalSoftcap = 6f, KeyLength = 32,
        },
        ["gemma3"] = Common with
        {
            Architecture = ModelArchitectures.Gemma3, Name = "arch-gemma3", BlockCount = 6, InitStd = 0.15f, TiedEmbeddings = true, SlidingWindow = 5,
            RopeFreqBase = 1000000, RopeFreqBaseSwa = 10000, FinalSoftcap = 6f,
        },
    };

    /// <summary>
    /// Rows of 256, the block size of Q4_K and Q6_K (the other cases' 64-wide rows cannot hold a K-quant block):
    /// qwen2 with its biases, for the K-quantised base checks.
    /// </summary>
    public static readonly LlamaModelSpec KQuantSpec = Common with
    {
        Architecture = ModelArchitectures.Qwen2, Name = "arch-kquant", EmbeddingLength = 256, HeadCount = 4, HeadCountKv = 2,
        FeedForwardLength = 256, BlockCount = 2, InitStd = 0.12f,
    };

    private readonly Dictionary<string, string> _paths = [];
    private readonly Lock _lock = new();

    public const string KQuant = "kquant";

    public ArchitectureFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "serve-arch-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string TempPath(string name) => Path.Combine(Directory, name);

    /// <summary>The F32 model of a case, made on first use.</summary>
    public string ModelPath(string name)
    {
        lock (_lock)
        {
            if (!_paths.TryGetValue(name, out var path))
            {
                path = ModelMaker.BuildTestModel(Directory, name == KQuant ? KQuantSpec : Specs[name]);
                _paths[name] = path;
            }
            return path;
        }
    }

    /// <summary>The model of a case with every matrix stored as <paramref name="type"/>.</summary>
    public string Quantized(string name, GgmlType type) => Rewrite(ModelPath(name), TempPath($"{name}-{type}.gguf"), type);

    /// <summary>
    /// The quantised model's weights as they decode, stored as F32: llama.cpp on this file computes with exactly the
    /// weights the trainer dequantised, without the activation rounding its quantised dot products add.
    /// </summary>
    public string Dequantized(string name, GgmlType type) => Rewrite(Quantized(name, type), TempPath($"{name}-{type}-as-f32.gguf"), GgmlType.F32);

    private string Rewrite(string source, string target, GgmlType type)
    {
        lock (_lock)
        {
            if (File.Exists(target)) return target;
            using var file = GgufFile.Read(source);
            var writer = new GgufWriter();
            foreach (var (key, value) in file.Metadata)
                if (key != GgufKeys.Alignment) writer.Set(key, value);
            foreach (var t in file.Tensors)
                writer.AddTensor(t.Name, t.Shape, file.ReadTensorAsFloat32(t), t.Shape.Length == 2 ? type : GgmlType.F32);
            writer.WriteTo(target);
            return target;
        }
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

