using Serve.Gguf;

namespace Serve.Training.Model;

/// <summary>Hyperparameters of a llama-architecture model, read from GGUF metadata the way llama.cpp reads them.</summary>
public sealed record LlamaConfig
{
    public required int VocabSize { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int ContextLength { get; init; }
    public required float RmsNormEps { get; init; }
    public required float RopeFreqBase { get; init; }
    public required bool TiedEmbeddings { get; init; }

    public int HeadDim => EmbeddingLength / HeadCount;
    public int KvLength => HeadDim * HeadCountKv;

    /// <summary>Matrix parameters (the FLOP-bearing ones) of the base model, embeddings included once.</summary>
    public long MatrixParameterCount
    {
        get
        {
            long e = EmbeddingLength, f = FeedForwardLength, kv = KvLength;
            return BlockCount * (2 * e * e + 2 * e * kv + 3 * e * f) + (long)VocabSize * e;
        }
    }

    public static LlamaConfig FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var arch = file.Architecture ?? throw new InvalidDataException("the GGUF file has no general.architecture");
        if (arch != "llama")
            throw new NotSupportedException($"architecture '{arch}' is not supported; only llama-architecture models train here");
        if (file.GetString(GgufKeys.Architecture) is null) throw new InvalidDataException("no architecture");
        long Required(string key) => file.GetInteger($"{arch}.{key}") ?? throw new InvalidDataException($"the GGUF file has no {arch}.{key}");
        float Float(string key, float fallback) => file.GetValue($"{arch}.{key}") is { } v ? (float)v.AsNumber() : fallback;

        var embd = (int)Required("embedding_length");
        var heads = (int)Required("attention.head_count");
        var vocab = file.GetInteger($"{arch}.vocab_size")
            ?? file.GetValue("tokenizer.ggml.tokens")?.ArrayLength
            ?? throw new InvalidDataException("the GGUF file has no vocabulary size");
        var config = new LlamaConfig
        {
            VocabSize = (int)vocab,
            EmbeddingLength = embd,
            BlockCount = (int)Required("block_count"),
            HeadCount = heads,
            HeadCountKv = (int)(file.GetInteger($"{arch}.attention.head_count_kv") ?? heads),
            FeedForwardLength = (int)Required("feed_forward_length"),
            ContextLength = (int)(file.GetInteger($"{arch}.context_length") ?? 2048),
            RmsNormEps = Float("attention.layer_norm_rms_epsilon", 1e-5f),
            RopeFreqBase = Float("rope.freq_base", 10000f),
            TiedEmbeddings = !file.TryGetTensor("output.weight", out _),
        };
        if (file.GetInteger($"{arch}.rope.dimension_count") is { } ropeDims && ropeDims != config.HeadDim)
            throw new NotSupportedException($"partial RoPE (rope.dimension_count {ropeDims} of head size {config.HeadDim}) is not supported");
        if (file.GetValue($"{arch}.rope.scaling.type") is { } scaling && scaling.AsString() is not ("none" or "linear") )
            throw new NotSupportedException($"RoPE scaling '{scaling.AsString()}' is not supported");
        if (file.GetValue($"{arch}.rope.scaling.factor") is { } factor && Math.Abs(factor.AsNumber() - 1) > 1e-9)
            throw new NotSupportedException("RoPE frequency scaling is not supported");
        if (embd % heads != 0 || config.HeadDim % 2 != 0 || heads % config.HeadCountKv != 0)
            throw new InvalidDataException($"inconsistent attention shape: embd {embd}, heads {heads}, kv heads {config.HeadCountKv}");
        return config;
    }
}
