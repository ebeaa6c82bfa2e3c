using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// A llama.cpp sampler chain, built fluently: filters first (penalties, grammar, top-k, ...), then one selector
/// (<see cref="Greedy"/> or <see cref="Dist"/>). One chain per sequence: it keeps state (penalty history, grammar
/// position, RNG). Not thread-safe. Seeded Dist is deterministic for the same logits.
/// </summary>
public sealed unsafe class LlamaSamplerChain : IDisposable
{
    private readonly SafeLlamaSamplerHandle _chain;
    private readonly List<nint> _grammars = [];
    private int _vocabCount = -1;

    public LlamaSamplerChain(bool noPerf = true)
    {
        LlamaBackend.Initialize();
        var p = NativeApi.llama_sampler_chain_default_params();
        p.NoPerf = noPerf;
        var pointer = NativeApi.llama_sampler_chain_init(p);
        if (pointer == nint.Zero) throw new LlamaException("llama_sampler_chain_init failed.");
        _chain = SafeLlamaSamplerHandle.FromPointer(pointer);
    }

    public int Count => NativeApi.llama_sampler_chain_n(_chain);

    /// <summary>Picks the highest logit.</summary>
    public LlamaSamplerChain Greedy() => Add(NativeApi.llama_sampler_init_greedy(), "greedy");

    /// <summary>Samples from the distribution; a fixed seed repeats, null = random seed.</summary>
    public LlamaSamplerChain Dist(uint? seed) => Add(NativeApi.llama_sampler_init_dist(seed ?? uint.MaxValue), "dist");

    public LlamaSamplerChain Temperature(float t) => Add(NativeApi.llama_sampler_init_temp(t), "temp");

    public LlamaSamplerChain TopK(int k) => Add(NativeApi.llama_sampler_init_top_k(k), "top-k");

    public LlamaSamplerChain TopP(float p, int minKeep = 1) => Add(NativeApi.llama_sampler_init_top_p(p, (nuint)Math.Max(minKeep, 0)), "top-p");

    public LlamaSamplerChain MinP(float p, int minKeep = 1) => Add(NativeApi.llama_sampler_init_min_p(p, (nuint)Math.Max(minKeep, 0)), "min-p");

    public LlamaSamplerChain Typical(float p, int minKeep = 1) => Add(NativeApi.llama_sampler_init_typical(p, (nuint)Math.Max(minKeep, 0)), "typical");

    /// <summary>Repetition penalties over the last lastN accepted tokens (repeat 1 and freq/present 0 = off).</summary>
    public LlamaSamplerChain Penalties(LlamaVocab vocab, int lastN, float repeat = 1f, float frequency = 0f, float presence = 0f)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        if (repeat <= 0 || !float.IsFinite(repeat)) throw new ArgumentOutOfRangeException(nameof(repeat), repeat, "Must be > 0 and finite.");
        if (!float.IsFinite(frequency) || !float.IsFinite(presence)) throw new ArgumentException("Penalties must be finite.");
        return Add(NativeApi.llama_sampler_init_penalties(vocab.Count, lastN, repeat, frequency, presence), "penalties");
    }

    /// <summary>Constrains output to a GBNF grammar. Throws LlamaException with llama.cpp's reason for an invalid grammar.</summary>
    public LlamaSamplerChain Grammar(LlamaModel model, string gbnf, string root = "root")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(gbnf);
        ArgumentException.ThrowIfNullOrEmpty(root);
        ObjectDisposedException.ThrowIf(model.IsDisposed, model);
        var capture = LlamaLogging.BeginCapture();
        nint pointer;
        using (new SafeHandleLease(model.Handle))
            pointer = NativeApi.llama_sampler_init_grammar(model.Vocab.Pointer, gbnf, root);
        if (pointer == nint.Zero) throw LlamaException.FromNative("Invalid GBNF grammar", capture.Errors);
        // The grammar reads the model's vocab for as long as the chain lives.
        try
        {
            _chain.AddDependency(model.Handle);
        }
        catch
        {
            NativeApi.llama_sampler_free(pointer);
            throw;
        }
        _grammars.Add(pointer);
        _vocabCount = model.Vocab.Count;
        return Add(pointer, "grammar");
    }

    /// <summary>Adds fixed biases to token logits (float.NegativeInfinity bans a token).</summary>
    public LlamaSamplerChain LogitBias(int vocabCount, IEnumerable<(int Token, float Bias)> biases)
    {
        ArgumentNullException.ThrowIfNull(biases);
        var items = biases.Select(b =>
        {
            if ((uint)b.Token >= (uint)vocabCount) throw new ArgumentOutOfRangeException(nameof(biases), b.Token, $"Token must be in [0, {vocabCount}).");
            return new LlamaLogitBias { Token = b.Token, Bias = b.Bias };
        }).ToArray();
        fixed (LlamaLogitBias* p = items)
            return Add(NativeApi.llama_sampler_init_logit_bias(vocabCount, items.Length, p), "logit-bias");
    }

    private LlamaSamplerChain Add(nint sampler, string name)
    {
        if (sampler == nint.Zero) throw new LlamaException($"Failed to create the {name} sampler.");
        ObjectDisposedException.ThrowIf(_chain.IsClosed, this);
        using var owned = SafeLlamaSamplerHandle.FromPointer(sampler);
        NativeApi.llama_sampler_chain_add(_chain, owned.TransferOwnership());
        return this;
    }

    /// <summary>Samples (and accepts) a token from the logits of a batch index of the context's last Decode.</summary>
    public int Sample(LlamaContext context, int batchIndex)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.CheckOutput(batchIndex);
        return NativeApi.llama_sampler_sample(_chain, context.Handle, batchIndex);
    }

    /// <summary>
    /// Feeds a token chosen elsewhere (e.g. prompt tokens for penalties) into the chain's state. With a grammar,
    /// the token must be allowed by it: llama.cpp aborts the process otherwise, so this is checked first.
    /// </summary>
    public void Accept(int token)
    {
        ObjectDisposedException.ThrowIf(_chain.IsClosed, this);
        if (_grammars.Count > 0 && !GrammarAllows(token))
            throw new ArgumentException($"Token {token} is not allowed by the grammar at this point.", nameof(token));
        NativeApi.llama_sampler_accept(_chain, token);
    }

    private bool GrammarAllows(int token)
    {
        if ((uint)token >= (uint)_vocabCount) return false;
        using var lease = new SafeHandleLease(_chain);
        foreach (var grammar in _grammars)
        {
            var candidate = new LlamaTokenData { Id = token, Logit = 0f, P = 0f };
            var array = new LlamaTokenDataArray { Data = &candidate, Size = 1, Selected = -1, Sorted = false };
            NativeApi.llama_sampler_apply(grammar, &array);
            if (float.IsNegativeInfinity(candidate.Logit)) return false;
        }
        return true;
    }

    /// <summary>Clears state (penalty history, grammar position); the RNG restarts from its seed.</summary>
    public void Reset() => NativeApi.llama_sampler_reset(_chain);

    public uint Seed => NativeApi.llama_sampler_get_seed(_chain);

    public LlamaSamplerPerformance Performance
    {
        get
        {
            var d = NativeApi.llama_perf_sampler(_chain);
            return new(d.TSampleMs, d.NSample);
        }
    }

    public void Dispose() => _chain.Dispose();
}
