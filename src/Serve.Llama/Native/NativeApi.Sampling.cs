using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(Llama)]
    internal static partial LlamaSamplerChainParams llama_sampler_chain_default_params();

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_chain_init(LlamaSamplerChainParams parameters);

    /// <summary>Takes ownership of sampler: the chain frees it.</summary>
    [LibraryImport(Llama)]
    internal static partial void llama_sampler_chain_add(SafeLlamaSamplerHandle chain, nint sampler);

    [LibraryImport(Llama)]
    internal static partial int llama_sampler_chain_n(SafeLlamaSamplerHandle chain);

    [LibraryImport(Llama)]
    internal static partial void llama_sampler_free(nint sampler);

    [LibraryImport(Llama)]
    internal static partial void llama_sampler_accept(SafeLlamaSamplerHandle sampler, int token);

    /// <summary>Applies one sampler to a candidate array (used on a chain member the chain owns, hence the raw pointer).</summary>
    [LibraryImport(Llama)]
    internal static partial void llama_sampler_apply(nint sampler, LlamaTokenDataArray* candidates);

    [LibraryImport(Llama)]
    internal static partial void llama_sampler_reset(SafeLlamaSamplerHandle sampler);

    [LibraryImport(Llama)]
    internal static partial int llama_sampler_sample(SafeLlamaSamplerHandle sampler, SafeLlamaContextHandle context, int idx);

    [LibraryImport(Llama)]
    internal static partial uint llama_sampler_get_seed(SafeLlamaSamplerHandle sampler);

    [LibraryImport(Llama)]
    internal static partial LlamaPerfSamplerData llama_perf_sampler(SafeLlamaSamplerHandle chain);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_greedy();

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_dist(uint seed);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_top_k(int k);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_top_p(float p, nuint minKeep);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_min_p(float p, nuint minKeep);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_typical(float p, nuint minKeep);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_temp(float t);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_temp_ext(float t, float delta, float exponent);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_penalties(int nVocab, int penaltyLastN, float penaltyRepeat, float penaltyFreq, float penaltyPresent);

    [LibraryImport(Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint llama_sampler_init_grammar(nint vocab, string grammarStr, string grammarRoot);

    [LibraryImport(Llama)]
    internal static partial nint llama_sampler_init_logit_bias(int nVocab, int nLogitBias, LlamaLogitBias* logitBias);
}
