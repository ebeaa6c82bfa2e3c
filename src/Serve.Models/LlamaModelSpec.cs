using Serve.Gguf;

namespace Serve.Models;

/// <summary>
/// Hyperparameters of a made model of one of the llama-family architectures llama.cpp runs (<see cref="Architecture"/>);
/// the defaults make a llama of about 0.1 M parameters. Options an architecture does not have are refused by
/// <see cref="Validate"/>, never dropped.
/// </summary>
public sealed record LlamaModelSpec
{
    /// <summary>general.architecture: one of <see cref="ModelArchitectures.All"/>.</summary>
    public string Architecture { get; init; } = ModelArchitectures.Llama;

    /// <summary>attention.key_length/value_length when not 0: a head size other than EmbeddingLength / HeadCount (Mistral-Nemo style).</summary>
    public int KeyLength { get; init; }

    /// <summary>llama: q/k/v/o and feed-forward biases. qwen2 always has q/k/v biases.</summary>
    public bool Biases { get; init; }

    /// <summary>llama: a <c>rope_freqs.weight</c> tensor (Llama 3.1-style RoPE scaling as per-frequency divisors).</summary>
    public bool RopeFreqs { get; init; }

    /// <summary>gemma2/gemma3: attention.sliding_window (gemma2 defaults to 4096 in llama.cpp; gemma3 has none without it).</summary>
    public int SlidingWindow { get; init; }

    /// <summary>gemma3 (and gemma2): rope.freq_base_swa, the RoPE base of sliding-window layers; 0 writes none.</summary>
    public float RopeFreqBaseSwa { get; init; }

    /// <summary>gemma2: attn_logit_softcapping; 0 writes none (llama.cpp then uses 50).</summary>
    public float AttentionSoftcap { get; init; }

    /// <summary>gemma2/gemma3: final_logit_softcapping; 0 writes none (gemma2 then uses 30, gemma3 none).</summary>
    public float FinalSoftcap { get; init; }

    /// <summary>Norm weights are 1 + NormStd·N(0,1) (0: all ones), so a forward pass that skips a norm shows it.</summary>
    public float NormStd { get; init; }

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

    public int HeadDim => KeyLength > 0 ? KeyLength : EmbeddingLength / HeadCount;
    public int QueryLength => HeadDim * HeadCount;
    public int KvLength => HeadDim * HeadCountKv;

    public long ParameterCount
    {
        get
        {
            long e = EmbeddingLength, f = FeedForwardLength, v = VocabSize, kv = KvLength;
            long q = QueryLength;
            var perLayer = 2 * e + e * q * 2 + 2 * e * kv + 3 * e * f;
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
        if (!ModelArchitectures.All.Contains(Architecture))
            throw new ArgumentException($"architecture '{Architecture}' is not one the maker writes ({string.Join(", ", ModelArchitectures.All)})", nameof(Architecture));
        if (KeyLength < 0) throw new ArgumentException("KeyLength must not be negative", nameof(KeyLength));
        if (KeyLength > 0 && Architecture is ModelArchitectures.Qwen2 or ModelArchitectures.Phi3)
            throw new ArgumentException($"{Architecture} has no attention.key_length in llama.cpp (q is n_embd wide)", nameof(KeyLength));
        if (Biases && Architecture is not (ModelArchitectures.Llama or ModelArchitectures.Qwen2))
            throw new ArgumentException($"{Architecture} has no biases here (llama: all, qwen2: q/k/v always)", nameof(Biases));
        if (RopeFreqs && Architecture != ModelArchitectures.Llama)
            throw new ArgumentException("rope_freqs.weight is written for llama only", nameof(RopeFreqs));
        var gemma = Architecture is ModelArchitectures.Gemma2 or ModelArchitectures.Gemma3;
        if (!gemma && (SlidingWindow != 0 || RopeFreqBaseSwa != 0 || FinalSoftcap != 0))
            throw new ArgumentException("sliding windows and soft-capping are gemma2/gemma3 settings", nameof(SlidingWindow));
        if (AttentionSoftcap != 0 && Architecture != ModelArchitectures.Gemma2)
            throw new ArgumentException("attention soft-capping is a gemma2 setting", nameof(AttentionSoftcap));
        if (Architecture == ModelArchitectures.Gemma2 && !TiedEmbeddings)
            throw new ArgumentException("gemma2 always ties its output to token_embd: set TiedEmbeddings", nameof(TiedEmbeddings));
        if (KeyLength == 0 && EmbeddingLength % HeadCount != 0)
            throw new ArgumentException($"EmbeddingLength {EmbeddingLength} is not a multiple of HeadCount {HeadCount}", nameof(HeadCount));
        if (HeadDim % 2 != 0)
            throw new ArgumentException($"head size {HeadDim} must be even for RoPE", nameof(HeadCount));
        if (HeadCount % HeadCountKv != 0)
            throw new ArgumentException($"HeadCount {HeadCount} is not a multiple of HeadCountKv {HeadCountKv}", nameof(HeadCountKv));
        if (VocabSize < SpmTokenizerTrainer.MinimumVocabSize)
            throw new ArgumentException($"VocabSize must be at least {SpmTokenizerTrainer.MinimumVocabSize}, got {VocabSize}", nameof(VocabSize));
        if (WeightType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0))
            throw new ArgumentException($"WeightType {WeightType} is not supported (F32, F16 or Q8_0)", nameof(WeightType));
        if (WeightType == GgmlType.Q8_0 && (EmbeddingLength % 32 != 0 || FeedForwardLength % 32 != 0 || QueryLength % 32 != 0))
            throw new ArgumentException("Q8_0 needs EmbeddingLength and FeedForwardLength to be multiples of 32 (its block size)", nameof(WeightType));
        if (!(RmsNormEps > 0)) throw new ArgumentException("RmsNormEps must be positive", nameof(RmsNormEps));
        if (!(RopeFreqBase > 0)) throw new ArgumentException("RopeFreqBase must be positive", nameof(RopeFreqBase));
    }
}
