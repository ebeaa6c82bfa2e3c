namespace Serve.Engine;

/// <summary>How the engine loads the base model and schedules work. Defaults suit a small CPU deployment.</summary>
public sealed record EngineOptions
{
    /// <summary>Path of the base model GGUF.</summary>
    public required string ModelPath { get; init; }

    /// <summary>Directory of adapters: every <c>&lt;name&gt;.gguf</c> in it is servable as model <c>name</c>. Null: none.</summary>
    public string? AdaptersDirectory { get; init; }

    /// <summary>Sequences decoded at once (llama.cpp sequence slots in use by requests).</summary>
    public int MaxSequences { get; init; } = 8;

    /// <summary>
    /// Most tokens (prompt + completion) one sequence may hold; null = the model's training context, at most
    /// <see cref="DefaultContextPerSequence"/> (llama-server also defaults to the training context). The engine's
    /// <see cref="InferenceEngine.Options"/> hold the resolved value.
    /// </summary>
    public int? ContextPerSequence { get; init; }

    /// <summary>The longest default context per sequence (when the model's training context is longer or unknown).</summary>
    public const int DefaultContextPerSequence = 2048;

    /// <summary>Most tokens in one llama_decode call (decode tokens first, prompt chunks fill the rest).</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>llama.cpp's physical micro-batch.</summary>
    public int UBatchSize { get; init; } = 512;

    /// <summary>Most prompt tokens one sequence processes per step, so a long prompt never stalls other sequences.</summary>
    public int PrefillChunk { get; init; } = 256;

    /// <summary>
    /// Most prompt tokens in a step that also decodes (null: as many as BatchSize leaves after the decode tokens). A
    /// step costs about its token count where compute bounds it (a CPU), so this bounds the gap between a running
    /// stream's tokens while new prompts arrive (Sarathi-Serve's token budget), at the price of those prompts' TTFT; a
    /// step with nothing to decode still prefills up to BatchSize, so a lone long prompt is not slowed.
    /// </summary>
    public int? PrefillTokensWhileDecoding { get; init; }

    /// <summary>Requests waiting for a sequence slot beyond which new requests are refused (EngineOverloadedException).</summary>
    public int MaxQueuedRequests { get; init; } = 256;

    /// <summary>
    /// Share of MaxSequences one client (GenerationRequest.ClientId) may run at once, at least one sequence. Held even
    /// when the client is alone: running sequences are never preempted, so free ones are what lets a newcomer start.
    /// </summary>
    public double ClientRunningShare { get; init; } = 0.5;

    /// <summary>Share of MaxQueuedRequests one client may hold (at least one place); beyond it its requests are refused.</summary>
    public double ClientQueueShare { get; init; } = 0.25;

    /// <summary>Adapter slots: adapters resident at once in the adapter pool (LRU beyond; pinned and in-use adapters are never evicted).</summary>
    public int MaxLoadedAdapters { get; init; } = 8;

    /// <summary>Reuse the KV of a shared prompt prefix between requests of the same adapter configuration.</summary>
    public bool PrefixCache { get; init; } = true;

    /// <summary>Idle sequence slots whose KV is kept for prefix reuse (in addition to MaxSequences).</summary>
    public int PrefixCacheSlots { get; init; } = 8;

    /// <summary>
    /// Off (the default): a KV stream of ContextPerSequence cells per sequence id, as llama-server runs with several
    /// slots, so a token attends only to its own sequence's cells. Running sequences keep ids 0..Running-1 (llama.cpp
    /// batches streams together only while ids run consecutively) and the prefix cache keeps finished sequences' KV in
    /// ids from MaxSequences up; a reused prefix is a whole-stream copy. Holds (MaxSequences + PrefixCacheSlots) x
    /// ContextPerSequence cells. On: one cell pool shared by every sequence (llama.cpp's kv_unified), half the cells
    /// with the default PrefixCacheSlots and prefixes shared without copies, but every token's attention spans every
    /// sequence's cells: 28 ms a base step with 8 streams on the 2-core CPU instead of 24. See
    /// src/Serve.Engine/README.md, "Base-path parity".
    /// </summary>
    public bool KvUnified { get; init; }

    /// <summary>Default completion length when a request sets none (still capped by the context).</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    /// <summary>CPU threads for decoding; null = llama.cpp's default.</summary>
    public int? Threads { get; init; }

    /// <summary>Model layers offloaded to the GPU (-1 all, 0 none); ignored on the CPU build.</summary>
    public int GpuLayers { get; init; } = -1;

    /// <summary>Flash attention: Auto (llama.cpp decides), Enabled or Disabled.</summary>
    public Serve.Llama.Native.LlamaFlashAttnType FlashAttention { get; init; } = Serve.Llama.Native.LlamaFlashAttnType.Auto;

    /// <summary>KV cache element type (F16 default; F32 for exact comparisons, Q8_0 to halve memory).</summary>
    public Serve.Llama.Native.GgmlType KvCacheType { get; init; } = Serve.Llama.Native.GgmlType.F16;

    /// <summary>
    /// Highest LoRA rank an adapter may have: every slot of the adapter pool holds factors of this rank (lower ranks
    /// are zero padded), so it sizes the pool's memory. 16, as vLLM's max_lora_rank; an adapter above it is refused.
    /// </summary>
    public int MaxAdapterRank { get; init; } = 16;

    /// <summary>
    /// Rank the pool's slots are padded to (at least MaxAdapterRank; a multiple of 32 for Q8_0). Null: MaxAdapterRank on
    /// the CPU; on a GPU, MaxAdapterRank rounded up to a power of two (to a multiple of 64 above 64), so that 64 / rank
    /// slots share each 64-row mul_mat_id expert, the shape CUDA's tensor-core kernel needs for F16 and F32, with no
    /// padding read; with Q8_0 factors a multiple of 32 on either (whole Q8_0 blocks, one slot an expert: CUDA's
    /// quantized mul_mat_id kernel needs no more). 64 on a GPU gives each slot an expert of its own, padded.
    /// </summary>
    public int? AdapterPoolRank { get; init; }

    /// <summary>
    /// Element type of the adapter pool's factors, F32, F16 or Q8_0. Null: F16, the adapters' usual file type, at half
    /// F32's memory and bandwidth; F32 on a CPU whose llama.cpp build has no fast F16 kernel for the pool
    /// (<see cref="Serve.Llama.LlamaAdapterPool.HostGathers"/>). F32 computes on the CPU exactly as llama.cpp's own LoRA does.
    /// Q8_0 (opt-in) about halves F16's bytes at 8-bit rounding of the factors and of the products' inputs (as
    /// llama.cpp's Q8_0 LoRA files compute), with slots padded to rank 32, one to an expert. On a CPU it takes
    /// mul_mat_id, slower than the F16 or F32 kernel.
    /// </summary>
    public Serve.Llama.Native.GgmlType? AdapterPoolType { get; init; }

    /// <summary>
    /// For tests: the adapter pool a GPU gets (its default type and rank, slots sharing 64-row mul_mat_id experts, the
    /// mul_mat_id and one-slot view forms) with its factors in host memory, so that the engine's path on a GPU runs on
    /// a machine without one. Not a server setting: on a CPU it is only slower.
    /// </summary>
    internal bool AdapterPoolGpuForm { get; init; }

    /// <summary>Most adapters one request may combine (the adapters extension); each token then uses that many pool slots.</summary>
    public int MaxAdaptersPerRequest { get; init; } = 4;

    /// <summary>Pool slots a token may use: MaxAdaptersPerRequest, at most MaxLoadedAdapters.</summary>
    internal int AdaptersPerToken => Math.Min(MaxAdaptersPerRequest, MaxLoadedAdapters);

    /// <summary>
    /// Chat template for every request instead of the models' own: "chatml", a path to a Jinja file, or Jinja text.
    /// Null: an adapter's own tokenizer.chat_template, else the base model's, else ChatML.
    /// </summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Most choices (GenerationRequest.Choices, OpenAI's n) one request may ask for; each holds a sequence slot.</summary>
    public int MaxChoices { get; init; } = 8;

    /// <summary>Name the base model is served under; null = the model file name without extension.</summary>
    public string? ModelName { get; init; }
}
