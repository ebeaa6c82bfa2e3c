using Serve.Gguf;

namespace Serve.Training.Model;

/// <summary>
/// Hyperparameters of a llama-family model (llama, qwen2, qwen3, phi3, gemma2, gemma3), read from GGUF metadata the
/// way llama.cpp reads them (llama-model.cpp and models/&lt;arch&gt;.cpp), including the per-architecture defaults it
/// applies when a key is absent. Anything that would change llama.cpp's computation and is not modelled here is
/// refused with <see cref="NotSupportedException"/>, never ignored.
/// </summary>
public sealed record LlamaConfig
{
    public static readonly IReadOnlyList<string> SupportedArchitectures = ["llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"];

    public string Architecture { get; init; } = "llama";
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

    /// <summary>attention.key_length (= value_length); embd / heads when absent.</summary>
    public int HeadDim
    {
        get => _headDim > 0 ? _headDim : EmbeddingLength / HeadCount;
        init => _headDim = value;
    }

    private readonly int _headDim;
    private readonly float _attentionScale;

    /// <summary>llama rotates adjacent pairs (NORM); qwen2/qwen3/phi3/gemma rotate halves (NEOX).</summary>
    public RopeMode RopeMode { get; init; } = RopeMode.Norm;

    /// <summary>1 / rope.scaling.factor for linear scaling; 1 without.</summary>
    public float RopeFreqScale { get; init; } = 1f;

    /// <summary>RoPE base of sliding-window layers (gemma: rope.freq_base_swa, llama.cpp's default 10000).</summary>
    public float RopeFreqBaseSwa { get; init; } = 10000f;

    /// <summary>Tokens a sliding-window layer sees (itself included); 0: no sliding-window layers.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Which layers use the sliding window (empty when <see cref="SlidingWindow"/> is 0).</summary>
    public IReadOnlyList<bool> SlidingLayers { get; init; } = [];

    /// <summary>Multiplier of q·k (gemma: applied to q, with its own rule; others 1/√head size, the default).</summary>
    public float AttentionScale
    {
        get => _attentionScale > 0 ? _attentionScale : 1f / MathF.Sqrt(HeadDim);
        init => _attentionScale = value;
    }

    /// <summary>gemma2: scores become cap·tanh(scores / cap) before the softmax; 0 for none.</summary>
    public float AttentionSoftcap { get; init; }

    /// <summary>gemma2/gemma3: logits become cap·tanh(logits / cap); 0 for none.</summary>
    public float FinalSoftcap { get; init; }

    /// <summary>gemma: the embedding is multiplied by √embd.</summary>
    public bool ScaleEmbedding { get; init; }

    /// <summary>qwen3/gemma3: RMSNorm over each q and k head before RoPE.</summary>
    public bool QkNorm { get; init; }

    /// <summary>gemma: RMSNorm after attention and after the feed-forward, before each residual add.</summary>
    public bool PostNorms { get; init; }

    /// <summary>gemma: GELU (tanh) gate; others SiLU.</summary>
    public bool GeluGate { get; init; }

    public int QueryLength => HeadDim * HeadCount;
    public int KvLength => HeadDim * HeadCountKv;

    /// <summary>Matrix parameters (the FLOP-bearing ones) of the base model, embeddings included once.</summary>
    public long MatrixParameterCount
    {
        get
        {
            long e = EmbeddingLength, f = FeedForwardLength, kv = KvLength, q = QueryLength;
            return BlockCount * (2 * e * q + 2 * e * kv + 3 * e * f) + (long)VocabSize * e;
        }
    }

    public static LlamaConfig FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var arch = file.Architecture ?? throw new InvalidDataException("the GGUF file has no general.architecture");
        if (!SupportedArchitectures.Contains(arch))
            throw new NotSupportedException($"architecture '{arch}' is not supported for training (supported: {string.Join(", ", SupportedArchitectures)})");
        long Required(string key) => file.GetInteger($"{arch}.{key}") ?? throw new InvalidDataException($"the GGUF file has no {arch}.{key}");
        float? Float(string key) => file.GetValue($"{arch}.{key}") is { } v ? (float)v.AsNumber() : null;

        var embd = (int)Required("embedding_length");
        var heads = (int)Required("attention.head_count");
        var blocks = (int)Required("block_count");
        var vocab = file.GetInteger($"{arch}.vocab_size")
            ?? file.GetValue("tokenizer.ggml.tokens")?.ArrayLength
            ?? throw new InvalidDataException("the GGUF file has no vocabulary size");
        if (embd % heads != 0 && file.GetInteger($"{arch}.attention.key_length") is null)
            throw new InvalidDataException($"embedding length {embd} is not a multiple of {heads} heads and there is no attention.key_length");
        var headDim = (int)(file.GetInteger($"{arch}.attention.key_length") ?? embd / heads);
        if (file.GetInteger($"{arch}.attention.value_length") is { } valueLength && valueLength != headDim)
            throw new NotSupportedException($"value head size {valueLength} differs from key head size {headDim}");
        if (file.GetInteger($"{arch}.rope.dimension_count") is { } ropeDims && ropeDims != headDim)
            throw new NotSupportedException($"partial RoPE (rope.dimension_count {ropeDims} of head size {headDim}) is not supported");

        var scalingType = file.GetValue($"{arch}.rope.scaling.type")?.AsString() ?? "linear";
        if (scalingType is not ("none" or "linear"))
            throw new NotSupportedException($"RoPE scaling '{scalingType}' is not supported (linear and rope_freqs.weight are)");
        var ropeFactor = Float("rope.scaling.factor") ?? Float("rope.scale_linear") ?? 0f;
        foreach (var t in file.Tensors)
            if (t.Name.StartsWith("rope_factors_", StringComparison.Ordinal))
                throw new NotSupportedException($"long/short RoPE factors ('{t.Name}', LongRoPE) are not supported");

        var gemma = arch is "gemma2" or "gemma3";
        var slidingWindow = 0;
        IReadOnlyList<bool> slidingLayers = [];
        float attentionSoftcap = 0, finalSoftcap = 0;
        if (arch == "gemma2")
        {
            slidingWindow = (int)(file.GetInteger($"{arch}.attention.sliding_window") ?? 4096);
            slidingLayers = SwaPattern(file, arch, blocks, 2);
            attentionSoftcap = Float("attn_logit_softcapping") ?? 50f;
            finalSoftcap = Float("final_logit_softcapping") ?? 30f;
        }
        else if (arch == "gemma3")
        {
            slidingWindow = (int)(file.GetInteger($"{arch}.attention.sliding_window") ?? 0);
            if (slidingWindow > 0) slidingLayers = SwaPattern(file, arch, blocks, 6);
            finalSoftcap = Float("final_logit_softcapping") ?? 0f;
        }
        // phi3's sliding_window is read and then switched off by llama.cpp (models/phi3.cpp): every layer is full.

        // gemma's rule (gemma_pytorch config): the 27B models scale by 1/sqrt(embd/heads), the others 1/sqrt(head size);
        // llama.cpp tells 27B by its layer count.
        var gemma27B = (arch == "gemma2" && blocks == 46) || (arch == "gemma3" && blocks == 62);
        var attentionScale = gemma27B ? 1f / MathF.Sqrt(embd / heads) : 1f / MathF.Sqrt(headDim);

        var config = new LlamaConfig
        {
            Architecture = arch,
            VocabSize = (int)vocab,
            EmbeddingLength = embd,
            BlockCount = blocks,
            HeadCount = heads,
            HeadCountKv = (int)(file.GetInteger($"{arch}.attention.head_count_kv") ?? heads),
            FeedForwardLength = (int)Required("feed_forward_length"),
            ContextLength = (int)(file.GetInteger($"{arch}.context_length") ?? 2048),
            RmsNormEps = Float("attention.layer_norm_rms_epsilon") ?? 1e-5f,
            RopeFreqBase = Float("rope.freq_base") ?? 10000f,
            RopeFreqBaseSwa = gemma ? Float("rope.freq_base_swa") ?? (arch == "gemma2" ? Float("rope.freq_base") ?? 10000f : 10000f) : 10000f,
            RopeFreqScale = ropeFactor == 0 ? 1f : 1f / ropeFactor,
            TiedEmbeddings = arch == "gemma2" || !file.TryGetTensor("output.weight", out _),
            HeadDim = headDim,
            RopeMode = arch == "llama" ? RopeMode.Norm : RopeMode.Neox,
            SlidingWindow = slidingWindow,
            SlidingLayers = slidingLayers,
            AttentionScale = attentionScale,
            AttentionSoftcap = attentionSoftcap,
            FinalSoftcap = finalSoftcap,
            ScaleEmbedding = gemma,
            QkNorm = arch is "qwen3" or "gemma3",
            PostNorms = gemma,
            GeluGate = gemma,
        };
        if (headDim % 2 != 0 || heads % config.HeadCountKv != 0)
            throw new InvalidDataException($"inconsistent attention shape: head size {headDim}, heads {heads}, kv heads {config.HeadCountKv}");
        if ((arch is "qwen2" or "phi3") && config.QueryLength != embd)
            throw new InvalidDataException($"{arch} needs heads x head size = embedding length ({heads} x {headDim} != {embd})");
        return config;
    }

    /// <summary>
    /// llama.cpp's set_swa_pattern: sliding_window_pattern is either a per-layer bool array or n, where layer i slides
    /// unless i % n == n - 1 (n = 0: every layer slides).
    /// </summary>
    private static bool[] SwaPattern(GgufFile file, string arch, int blocks, int defaultPattern)
    {
        var value = file.GetValue($"{arch}.attention.sliding_window_pattern");
        if (value is { IsArray: true })
        {
            var flags = value.AsArray<bool>();
            if (flags.Length < blocks) throw new InvalidDataException($"sliding_window_pattern has {flags.Length} entries for {blocks} layers");
            return flags[..blocks];
        }
        var n = value is null ? defaultPattern : (int)value.AsInteger();
        return [.. Enumerable.Range(0, blocks).Select(i => n == 0 || i % n < n - 1)];
    }
}

/// <summary>Which elements of a head RoPE rotates together (llama.cpp's rope types).</summary>
public enum RopeMode
{
    /// <summary>(x[2i], x[2i+1]): llama.</summary>
    Norm,

    /// <summary>(x[i], x[i + d/2]): qwen2, qwen3, phi3, gemma2, gemma3 (and Hugging Face's rotate-half).</summary>
    Neox,
}
