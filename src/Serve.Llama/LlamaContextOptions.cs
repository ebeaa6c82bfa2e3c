using Serve.Llama.Graph;
using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>How a context (KV cache + compute state) is created. Defaults follow llama_context_default_params.</summary>
public sealed record LlamaContextOptions
{
    /// <summary>Total KV cache cells (n_ctx) shared by all sequences; 0 = the model's training length.</summary>
    public int ContextSize { get; init; } = 512;

    /// <summary>Most tokens one Decode may carry (n_batch).</summary>
    public int BatchSize { get; init; } = 2048;

    /// <summary>Physical micro-batch size (n_ubatch).</summary>
    public int UBatchSize { get; init; } = 512;

    /// <summary>Distinct sequences (n_seq_max); sequence ids must be below it.</summary>
    public int SeqMax { get; init; } = 1;

    /// <summary>Threads for single-token generation; null = processor count.</summary>
    public int? Threads { get; init; }

    /// <summary>Threads for prompt / batch processing; null = <see cref="Threads"/>.</summary>
    public int? ThreadsBatch { get; init; }

    public LlamaFlashAttnType FlashAttention { get; init; } = LlamaFlashAttnType.Auto;

    /// <summary>KV cache element type for K (F16 default; Q8_0 halves the memory).</summary>
    public GgmlType TypeK { get; init; } = GgmlType.F16;

    /// <summary>KV cache element type for V (quantized V needs flash attention).</summary>
    public GgmlType TypeV { get; init; } = GgmlType.F16;

    /// <summary>One KV buffer across sequences (helps when sequences share long prefixes).</summary>
    public bool KvUnified { get; init; }

    public bool Embeddings { get; init; }

    public LlamaPoolingType PoolingType { get; init; } = LlamaPoolingType.Unspecified;

    /// <summary>Skip performance timings (llama.cpp default true).</summary>
    public bool NoPerf { get; init; } = true;

    public bool OffloadKqv { get; init; } = true;

    public bool OpOffload { get; init; } = true;

    public bool SwaFull { get; init; } = true;

    /// <summary>RoPE base frequency; 0 = from the model.</summary>
    public float RopeFreqBase { get; init; }

    /// <summary>RoPE frequency scale; 0 = from the model.</summary>
    public float RopeFreqScale { get; init; }

    /// <summary>
    /// Sees (and may change) graph nodes while Decode computes them (llama.cpp's cb_eval); null = none. Each node it
    /// wants splits ggml's computation there, which costs a little per decode.
    /// </summary>
    public ILlamaGraphObserver? GraphObserver { get; init; }

    /// <summary>
    /// Keep one ggml CPU threadpool for the context's life instead of starting threads for every graph computation
    /// (what llama.cpp does when none is attached). ThreadsBatch then equals Threads.
    /// </summary>
    public bool PersistentThreads { get; init; }

    /// <summary>
    /// With PersistentThreads: how long workers spin for the next computation before sleeping, 0 (never) to 100
    /// (ggml_threadpool_params.poll); null = ggml's default (50). Spinning workers take a core from other threads.
    /// </summary>
    public int? ThreadPoll { get; init; }
}
