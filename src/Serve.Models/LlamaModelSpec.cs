using Serve.Gguf;

namespace Serve.Models;

/// <summary>Hyperparameters of a llama-architecture model; the defaults make a model of about 0.1 M parameters.</summary>
public sealed record LlamaModelSpec
{
    public int EmbeddingLength { get; init; } = 64;
    public int BlockCount { get; init; } = 2;
    public int HeadCount { get; init; } = 4;
    public int HeadCountKv { get; init; } = 2;
    public int FeedForwardLength { get; init; } = 128;
    public int ContextLength { get; init; } = 512;
    public float RopeFreqBase { get; init; } = 10000;
    public float RmsNormEps { get; init; } = 1e-5f;

    /// <summary>No <c>output.weight</c>: llama.cpp reuses <c>token_embd.weight</c> for the output projection.</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>Storage type of the 2-D weights; norms are always F32.</summary>
    public GgmlType WeightType { get; init; } = GgmlType.F32;

    public int Seed { get; init; } = 1;
    public string Name { get; init; } = "serve-test";
    public float InitStd { get; init; } = 0.02f;
    public int VocabSize { get; init; } = 512;

    public int HeadDim => EmbeddingLength / HeadCount;
    public int KvLength => HeadDim * HeadCountKv;

    public long ParameterCount
    {
        get
        {
            long e = EmbeddingLength, f = FeedForwardLength, v = VocabSize, kv = KvLength;
            var perLayer = 2 * e + e * e * 2 + 2 * e * kv + 3 * e * f;
            return e * v * (TiedEmbeddings ? 1 : 2) + e + BlockCount * perLayer;
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting llama.cpp would reject.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}", name);
        }
        Positive(EmbeddingLength, nameof(EmbeddingLength));
        Positive(BlockCount, nameof(BlockCount));
        Positive(HeadCount, nameof(HeadCount));
        Positive(HeadCountKv, nameof(HeadCountKv));
        Positive(FeedForwardLength, nameof(FeedForwardLength));
        Positive(ContextLength, nameof(ContextLength));
        if (EmbeddingLength % HeadCount != 0)
            throw new ArgumentException($"EmbeddingLength {EmbeddingLength} is not a multiple of HeadCount {HeadCount}", nameof(HeadCount));
        if (HeadDim % 2 != 0)
            throw new ArgumentException($"head size {HeadDim} must be even for RoPE", nameof(HeadCount));
        if (HeadCount % HeadCountKv != 0)
            throw new ArgumentException($"HeadCount {HeadCount} is not a multiple of HeadCountKv {HeadCountKv}", nameof(HeadCountKv));
        if (VocabSize < SpmTokenizerTrainer.MinimumVocabSize)
            throw new ArgumentException($"VocabSize must be at least {SpmTokenizerTrainer.MinimumVocabSize}, got {VocabSize}", nameof(VocabSize));
        if (WeightType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0))
            throw new ArgumentException($"WeightType {WeightType} is not supported (F32, F16 or Q8_0)", nameof(WeightType));
        if (WeightType == GgmlType.Q8_0 && (EmbeddingLength % 32 != 0 || FeedForwardLength % 32 != 0))
            throw new ArgumentException("Q8_0 needs EmbeddingLength and FeedForwardLength to be multiples of 32 (its block size)", nameof(WeightType));
        if (!(RmsNormEps > 0)) throw new ArgumentException("RmsNormEps must be positive", nameof(RmsNormEps));
        if (!(RopeFreqBase > 0)) throw new ArgumentException("RopeFreqBase must be positive", nameof(RopeFreqBase));
    }
}
