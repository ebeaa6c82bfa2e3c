using System.Diagnostics;
using Serve.Gguf;

namespace Serve.Models;

/// <summary>
/// Writes llama-family GGUF models (llama, qwen2, qwen3, phi3, gemma2, gemma3) with seeded random weights, in the
/// layout llama.cpp loads directly: its tensor names and metadata keys (llama-arch.cpp) and its shapes.
/// </summary>
/// <remarks>
/// Weights follow the GGUF/llama.cpp convention, not Hugging Face's: shapes are in ggml order (ne0, the input
/// dimension, first), and attn_q/attn_k are taken to be already in llama.cpp's RoPE layout for the architecture
/// (llama: adjacent pairs 2i, 2i+1, which convert_hf_to_gguf.py permutes HF rows into; the others: halves, HF's own).
/// Random weights need no permutation, but a managed forward pass must rotate the rows as stored.
/// </remarks>
public static class ModelMaker
{
    /// <summary>Bumped when the maker writes different bytes for the same spec (it names cached test models).</summary>
    public const int MakerVersion = 2;

    public static void Write(string path, LlamaModelSpec spec, TokenizerVocab vocab)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(vocab);
        spec.Validate();
        if (vocab.Count != spec.VocabSize)
            throw new ArgumentException($"vocabulary has {vocab.Count} tokens but the spec says VocabSize {spec.VocabSize}", nameof(vocab));

        var arch = spec.Architecture;
        var writer = new GgufWriter();
        writer.Set("general.architecture", arch);
        writer.Set("general.type", "model");
        writer.Set("general.name", spec.Name);
        writer.Set("general.file_type", (uint)FileType(spec.WeightType));
        writer.Set("general.quantization_version", 2u);

        writer.Set($"{arch}.vocab_size", (uint)vocab.Count);
        writer.Set($"{arch}.context_length", (uint)spec.ContextLength);
        writer.Set($"{arch}.embedding_length", (uint)spec.EmbeddingLength);
        writer.Set($"{arch}.block_count", (uint)spec.BlockCount);
        writer.Set($"{arch}.feed_forward_length", (uint)spec.FeedForwardLength);
        writer.Set($"{arch}.attention.head_count", (uint)spec.HeadCount);
        writer.Set($"{arch}.attention.head_count_kv", (uint)spec.HeadCountKv);
        if (spec.KeyLength > 0)
        {
            writer.Set($"{arch}.attention.key_length", (uint)spec.KeyLength);
            writer.Set($"{arch}.attention.value_length", (uint)spec.KeyLength);
        }
        writer.Set($"{arch}.attention.layer_norm_rms_epsilon", spec.RmsNormEps);
        writer.Set($"{arch}.rope.dimension_count", (uint)spec.HeadDim); // llama.cpp requires the full head size for llama
        writer.Set($"{arch}.rope.freq_base", spec.RopeFreqBase);
        if (spec.RopeFreqBaseSwa > 0) writer.Set($"{arch}.rope.freq_base_swa", spec.RopeFreqBaseSwa);
        if (spec.SlidingWindow > 0) writer.Set($"{arch}.attention.sliding_window", (uint)spec.SlidingWindow);
        if (spec.AttentionSoftcap > 0) writer.Set($"{arch}.attn_logit_softcapping", spec.AttentionSoftcap);
        if (spec.FinalSoftcap > 0) writer.Set($"{arch}.final_logit_softcapping", spec.FinalSoftcap);

        writer.Set("serve.maker.seed", spec.Seed);
        writer.Set("serve.maker.init_std", spec.InitStd);
        writer.Set("serve.maker.tied_embeddings", spec.TiedEmbeddings);

        TokenizerMetadata.Write(writer, vocab);

        long e = spec.EmbeddingLength, v = vocab.Count, f = spec.FeedForwardLength, q = spec.QueryLength, kv = spec.KvLength;
        var gemma = arch is ModelArchitectures.Gemma2 or ModelArchitectures.Gemma3;
        AddWeight(writer, spec, "token_embd.weight", [e, v]);
        AddNorm(writer, spec, "output_norm.weight", e);
        if (!spec.TiedEmbeddings) AddWeight(writer, spec, "output.weight", [e, v]);
        if (spec.RopeFreqs) AddRopeFreqs(writer, spec.HeadDim);
        for (var i = 0; i < spec.BlockCount; i++)
        {
            var blk = $"blk.{i}";
            AddNorm(writer, spec, $"{blk}.attn_norm.weight", e);
            if (arch == ModelArchitectures.Phi3)
            {
                AddWeight(writer, spec, $"{blk}.attn_qkv.weight", [e, q + 2 * kv]);
            }
            else
            {
                AddWeight(writer, spec, $"{blk}.attn_q.weight", [e, q]);
                AddWeight(writer, spec, $"{blk}.attn_k.weight", [e, kv]);
                AddWeight(writer, spec, $"{blk}.attn_v.weight", [e, kv]);
            }
            if (spec.Biases || arch == ModelArchitectures.Qwen2)
            {
                AddBias(writer, spec, $"{blk}.attn_q.bias", q);
                AddBias(writer, spec, $"{blk}.attn_k.bias", kv);
                AddBias(writer, spec, $"{blk}.attn_v.bias", kv);
            }
            if (arch is ModelArchitectures.Qwen3 or ModelArchitectures.Gemma3)
            {
                AddNorm(writer, spec, $"{blk}.attn_q_norm.weight", spec.HeadDim);
                AddNorm(writer, spec, $"{blk}.attn_k_norm.weight", spec.HeadDim);
            }
            AddWeight(writer, spec, $"{blk}.attn_output.weight", [q, e]);
            if (spec.Biases) AddBias(writer, spec, $"{blk}.attn_output.bias", e);
            if (gemma) AddNorm(writer, spec, $"{blk}.post_attention_norm.weight", e);
            AddNorm(writer, spec, $"{blk}.ffn_norm.weight", e);
            if (arch == ModelArchitectures.Phi3)
            {
                AddWeight(writer, spec, $"{blk}.ffn_up.weight", [e, 2 * f]); // gate rows then up rows
            }
            else
            {
                AddWeight(writer, spec, $"{blk}.ffn_gate.weight", [e, f]);
                AddWeight(writer, spec, $"{blk}.ffn_up.weight", [e, f]);
            }
            AddWeight(writer, spec, $"{blk}.ffn_down.weight", [f, e]);
            if (spec.Biases)
            {
                AddBias(writer, spec, $"{blk}.ffn_gate.bias", f);
                AddBias(writer, spec, $"{blk}.ffn_up.bias", f);
                AddBias(writer, spec, $"{blk}.ffn_down.bias", e);
            }
            if (gemma) AddNorm(writer, spec, $"{blk}.post_ffw_norm.weight", e);
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
        Write(path, spec, SpmTokenizerTrainer.Default(spec.VocabSize));
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

    private static void AddNorm(GgufWriter writer, LlamaModelSpec spec, string name, long length)
    {
        var values = spec.NormStd > 0 ? new SeededNormal(spec.Seed, name).Fill(length, spec.NormStd) : new float[length];
        for (var i = 0; i < values.Length; i++) values[i] += 1f;
        writer.AddTensor(name, [length], values);
    }

    private static void AddBias(GgufWriter writer, LlamaModelSpec spec, string name, long length) =>
        writer.AddTensor(name, [length], new SeededNormal(spec.Seed, name).Fill(length, spec.InitStd));

    /// <summary>Llama 3.1's shape of factors: 1 for high frequencies rising to 8 for the lowest (rotation slowed down).</summary>
    private static void AddRopeFreqs(GgufWriter writer, int headDim)
    {
        var half = headDim / 2;
        var factors = new float[half];
        for (var i = 0; i < half; i++) factors[i] = 1f + 7f * i / Math.Max(1, half - 1);
        writer.AddTensor("rope_freqs.weight", [half], factors);
    }

    private static string SpecFingerprint(LlamaModelSpec spec)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes($"{MakerVersion}:{spec}");
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))[..12];
    }
}
