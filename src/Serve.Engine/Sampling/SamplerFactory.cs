using Serve.Llama;

namespace Serve.Engine.Sampling;

/// <summary>
/// Builds a request's llama.cpp sampler chain in llama-server's order: logit bias, penalties, grammar, then
/// greedy or top-k, top-p, min-p, temperature and a seeded draw.
/// </summary>
internal static class SamplerFactory
{
    /// <summary>Generated tokens the presence/frequency/repetition penalties look back over.</summary>
    private const int PenaltyWindow = 256;

    public static LlamaSamplerChain Create(LlamaModel model, SamplingOptions options)
    {
        var chain = new LlamaSamplerChain();
        try
        {
            if (options.LogitBias is { Count: > 0 } bias)
                chain.LogitBias(model.Vocab.Count, bias.Select(kv => (kv.Key, kv.Value <= -100f ? float.NegativeInfinity : kv.Value)));
            if (options.PresencePenalty != 0f || options.FrequencyPenalty != 0f || options.RepetitionPenalty != 1f)
                chain.Penalties(model.Vocab, PenaltyWindow, options.RepetitionPenalty, options.FrequencyPenalty, options.PresencePenalty);
            if (!string.IsNullOrEmpty(options.Grammar))
                chain.Grammar(model, options.Grammar);
            if (options.IsGreedy)
            {
                chain.Greedy();
                return chain;
            }
            if (options.TopK > 0) chain.TopK(options.TopK);
            if (options.TopP < 1f) chain.TopP(options.TopP);
            if (options.MinP > 0f) chain.MinP(options.MinP);
            chain.Temperature(options.Temperature);
            chain.Dist(options.Seed);
            return chain;
        }
        catch
        {
            chain.Dispose();
            throw;
        }
    }

    /// <summary>Checks what the chain would reject, with the request field at fault.</summary>
    public static void Validate(SamplingOptions options, int vocabCount)
    {
        if (!float.IsFinite(options.Temperature) || options.Temperature < 0f || options.Temperature > 2f)
            throw new InvalidGenerationRequestException($"temperature must be between 0 and 2, got {options.Temperature}.", "temperature");
        if (!float.IsFinite(options.TopP) || options.TopP <= 0f || options.TopP > 1f)
            throw new InvalidGenerationRequestException($"top_p must be in (0, 1], got {options.TopP}.", "top_p");
        if (options.TopK < 0) throw new InvalidGenerationRequestException($"top_k must be >= 0, got {options.TopK}.", "top_k");
        if (!float.IsFinite(options.MinP) || options.MinP < 0f || options.MinP > 1f)
            throw new InvalidGenerationRequestException($"min_p must be in [0, 1], got {options.MinP}.", "min_p");
        if (!float.IsFinite(options.PresencePenalty) || Math.Abs(options.PresencePenalty) > 2f)
            throw new InvalidGenerationRequestException($"presence_penalty must be between -2 and 2, got {options.PresencePenalty}.", "presence_penalty");
        if (!float.IsFinite(options.FrequencyPenalty) || Math.Abs(options.FrequencyPenalty) > 2f)
            throw new InvalidGenerationRequestException($"frequency_penalty must be between -2 and 2, got {options.FrequencyPenalty}.", "frequency_penalty");
        if (!float.IsFinite(options.RepetitionPenalty) || options.RepetitionPenalty <= 0f)
            throw new InvalidGenerationRequestException($"repetition_penalty must be > 0, got {options.RepetitionPenalty}.", "repetition_penalty");
        if (options.LogitBias is { } bias)
        {
            foreach (var (token, value) in bias)
            {
                if ((uint)token >= (uint)vocabCount)
                    throw new InvalidGenerationRequestException($"logit_bias token {token} is outside the vocabulary [0, {vocabCount}).", "logit_bias");
                if (!float.IsFinite(value) || value < -100f || value > 100f)
                    throw new InvalidGenerationRequestException($"logit_bias values must be between -100 and 100, got {value} for token {token}.", "logit_bias");
            }
        }
    }
}
