using System.Diagnostics;
using Serve.Gguf;

namespace Serve.Models;

/// <summary>
/// Writes llama-architecture GGUF models with seeded random weights, in the layout llama.cpp loads directly.
/// </summary>
/// <remarks>
/// Weights follow the GGUF/llama.cpp convention, not Hugging Face's: shapes are in ggml order (ne0, the input
/// dimension, first), and attn_q/attn_k are taken to be already in llama.cpp's RoPE layout (rotation of adjacent
/// pairs 2i, 2i+1; convert_hf_to_gguf.py permutes HF rows into it). Random weights need no permutation, but a
/// managed forward pass reading these files must use that rotation on the rows as stored.
/// </remarks>
public static class ModelMaker
{
    public const string Architecture = "llama";

    /// <summary>Bumped when the maker writes different bytes for the same spec (it names cached test models).</summary>
    public const int MakerVersion = 1;

    public static void WriteLlama(string path, LlamaModelSpec spec, TokenizerVocab vocab)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(vocab);
        spec.Validate();
        if (vocab.Count != spec.VocabSize)
            throw new ArgumentException($"vocabulary has {vocab.Count} tokens but the spec says VocabSize {spec.VocabSize}", nameof(vocab));

        var writer = new GgufWriter();
        writer.Set("general.architecture", Architecture);
        writer.Set("general.type", "model");
        writer.Set("general.name", spec.Name);
        writer.Set("general.file_type", (uint)FileType(spec.WeightType));
        writer.Set("general.quantization_version", 2u);

        writer.Set("llama.vocab_size", (uint)vocab.Count);
        writer.Set("llama.context_length", (uint)spec.ContextLength);
        writer.Set("llama.embedding_length", (uint)spec.EmbeddingLength);
        writer.Set("llama.block_count", (uint)spec.BlockCount);
        writer.Set("llama.feed_forward_length", (uint)spec.FeedForwardLength);
        writer.Set("llama.attention.head_count", (uint)spec.HeadCount);
        writer.Set("llama.attention.head_count_kv", (uint)spec.HeadCountKv);
        writer.Set("llama.attention.layer_norm_rms_epsilon", spec.RmsNormEps);
        writer.Set("llama.rope.dimension_count", (uint)spec.HeadDim); // llama.cpp requires the full head size
        writer.Set("llama.rope.freq_base", spec.RopeFreqBase);

        writer.Set("serve.maker.seed", spec.Seed);
        writer.Set("serve.maker.init_std", spec.InitStd);
        writer.Set("serve.maker.tied_embeddings", spec.TiedEmbeddings);

        TokenizerMetadata.Write(writer, vocab);

        long e = spec.EmbeddingLength, v = vocab.Count, f = spec.FeedForwardLength, kv = spec.KvLength;
        AddWeight(writer, spec, "token_embd.weight", [e, v]);
        AddNorm(writer, "output_norm.weight", e);
        if (!spec.TiedEmbeddings) AddWeight(writer, spec, "output.weight", [e, v]);
        for (var i = 0; i < spec.BlockCount; i++)
        {
            AddNorm(writer, $"blk.{i}.attn_norm.weight", e);
            AddWeight(writer, spec, $"blk.{i}.attn_q.weight", [e, e]);
            AddWeight(writer, spec, $"blk.{i}.attn_k.weight", [e, kv]);
            AddWeight(writer, spec, $"blk.{i}.attn_v.weight", [e, kv]);
            AddWeight(writer, spec, $"blk.{i}.attn_output.weight", [e, e]);
            AddNorm(writer, $"blk.{i}.ffn_norm.weight", e);
            AddWeight(writer, spec, $"blk.{i}.ffn_gate.weight", [e, f]);
            AddWeight(writer, spec, $"blk.{i}.ffn_up.weight", [e, f]);
            AddWeight(writer, spec, $"blk.{i}.ffn_down.weight", [f, e]);
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        writer.WriteTo(path);
    }

    /// <summary>
    /// Writes <c>serve-test-&lt;hash of spec&gt;.gguf</c> under <paramref name="directory"/> with the default tokenizer
    /// of the spec's vocabulary size and returns its path; an existing file from the same spec is reused.
    /// </summary>
    public static string BuildTestModel(string directory, LlamaModelSpec? spec = null)
    {
        spec ??= new LlamaModelSpec();
        var path = Path.Combine(directory, $"{spec.Name}-{SpecFingerprint(spec)}.gguf");
        if (File.Exists(path)) return path;
        WriteLlama(path, spec, SpmTokenizerTrainer.Default(spec.VocabSize));
        return path;
    }

    /// <summary>llama.cpp's llama_ftype for a file whose 2-D weights are all <paramref name="type"/>.</summary>
    public static int FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q8_0 => 7,
        _ => throw new ArgumentException($"no llama file type for {type}", nameof(type)),
    };

    private static void AddWeight(GgufWriter writer, LlamaModelSpec spec, string name, long[] shape)
    {
        var values = new SeededNormal(spec.Seed, name).Fill(shape[0] * shape[1], spec.InitStd);
        writer.AddTensor(name, shape, values, spec.WeightType);
    }

    private static void AddNorm(GgufWriter writer, string name, long length)
    {
        var ones = new float[length];
        Array.Fill(ones, 1f);
        writer.AddTensor(name, [length], ones);
    }

    private static string SpecFingerprint(LlamaModelSpec spec)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes($"{MakerVersion}:{spec}");
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))[..12];
    }
}
