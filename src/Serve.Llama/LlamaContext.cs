using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Serve.Llama.Graph;
using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// A llama.cpp context: the KV cache of up to <see cref="SeqMax"/> sequences, the active LoRA set, and the
/// outputs of the last <see cref="Decode"/>. Not thread-safe: one owner (the scheduler) drives it. It keeps its
/// model and its active adapters alive, so disposal order does not matter.
/// </summary>
public sealed unsafe class LlamaContext : IDisposable
{
    private readonly CallbackState _callbacks;
    private bool[] _outputs = [];
    private int _outputBatchCount;

    /// <summary>
    /// The next decode reserves the graph, which reads the model's adapter set: set by a change of adapters or of the
    /// pool's targets, and that decode holds <see cref="LlamaModel.AdapterSetGate"/>.
    /// </summary>
    internal bool ReservePending { get; set; }

    private LlamaContext(LlamaModel model, SafeLlamaContextHandle handle, CallbackState callbacks, bool kvUnified)
    {
        Model = model;
        KvUnified = kvUnified;
        _callbacks = callbacks;
        Handle = handle;
        Memory = new LlamaMemory(this);
        ContextSize = (int)NativeApi.llama_n_ctx(handle);
        BatchSize = (int)NativeApi.llama_n_batch(handle);
        UBatchSize = (int)NativeApi.llama_n_ubatch(handle);
        SeqMax = (int)NativeApi.llama_n_seq_max(handle);
        ContextSizePerSequence = (int)NativeApi.llama_n_ctx_seq(handle);
    }

    internal SafeLlamaContextHandle Handle { get; }

    public LlamaModel Model { get; }
    public LlamaVocab Vocab => Model.Vocab;
    public LlamaMemory Memory { get; }

    /// <summary>Actual sizes chosen by llama.cpp (may differ from the options: n_ctx is padded, n_batch is capped at n_ctx).</summary>
    public int ContextSize { get; }
    public int ContextSizePerSequence { get; }
    public int BatchSize { get; }
    public int UBatchSize { get; }
    public int SeqMax { get; }
    public bool KvUnified { get; }

    public static LlamaContext Create(LlamaModel model, LlamaContextOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ObjectDisposedException.ThrowIf(model.IsDisposed, model);
        options ??= new LlamaContextOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(options.ContextSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.UBatchSize, 1);
        LlamaBackend.Initialize();
        var maxSeq = LlamaBackend.MaxParallelSequences;
        if (options.SeqMax < 1 || options.SeqMax > maxSeq)
            throw new ArgumentOutOfRangeException(nameof(options), options.SeqMax, $"SeqMax must be in [1, {maxSeq}].");
        var threads = options.Threads ?? Environment.ProcessorCount;
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);

        var p = NativeApi.llama_context_default_params();
        p.NCtx = (uint)options.ContextSize;
        p.NBatch = (uint)options.BatchSize;
        p.NUbatch = (uint)options.UBatchSize;
        p.NSeqMax = (uint)options.SeqMax;
        p.NThreads = threads;
        p.NThreadsBatch = options.ThreadsBatch ?? threads;
        p.FlashAttnType = options.FlashAttention;
        p.TypeK = options.TypeK;
        p.TypeV = options.TypeV;
        p.KvUnified = options.KvUnified;
        p.Embeddings = options.Embeddings;
        p.PoolingType = options.PoolingType;
        p.NoPerf = options.NoPerf;
        p.OffloadKqv = options.OffloadKqv;
        p.OpOffload = options.OpOffload;
        p.SwaFull = options.SwaFull;
        p.RopeFreqBase = options.RopeFreqBase;
        p.RopeFreqScale = options.RopeFreqScale;

        var handle = new SafeLlamaContextHandle();
        var callbacks = new CallbackState { Observer = options.GraphObserver };
        var state = GCHandle.Alloc(callbacks);
        p.AbortCallback = &OnAbort;
        p.AbortCallbackData = (void*)GCHandle.ToIntPtr(state);
        if (options.GraphObserver is not null)
        {
            _ = GgmlOps.MulMat; // resolve the op ids before the first callback needs them
            p.CbEval = (nint)(delegate* unmanaged[Cdecl]<GgmlTensorNative*, byte, void*, byte>)&OnEval;
            p.CbEvalUserData = (void*)GCHandle.ToIntPtr(state);
        }
        try
        {
            handle.AddDependency(model.Handle);
            var capture = LlamaLogging.BeginCapture();
            nint pointer;
            LlamaLogging.CreatingUnifiedContext = options.KvUnified;
            try
            {
                lock (model.AdapterSetGate) // creation reserves the graph, which reads the model's adapter set
                    pointer = NativeApi.llama_init_from_model(model.Handle.DangerousGetHandle(), p);
            }
            finally
            {
                LlamaLogging.CreatingUnifiedContext = false;
            }
            if (pointer == nint.Zero) throw LlamaException.FromNative("Failed to create the llama context", capture.Errors);
            handle.CallbackState = state;
            handle.Attach(pointer);
            if (options.PersistentThreads && (handle.Threadpool = CpuThreadpool.Create(Math.Max(p.NThreads, p.NThreadsBatch), options.ThreadPoll)) != 0)
                NativeApi.llama_attach_threadpool(handle, handle.Threadpool, handle.Threadpool);
            return new LlamaContext(model, handle, callbacks, options.KvUnified);
        }
        catch
        {
            if (!handle.CallbackState.IsAllocated) state.Free();
            handle.Dispose();
            throw;
        }
    }

    /// <summary>What the native callbacks read: the cancellation of the running Decode and the graph observer.</summary>
    private sealed class CallbackState
    {
        public CancellationToken Token;
        public ILlamaGraphObserver? Observer;
        public Exception? ObserverError;
    }

    /// <summary>The graph observer of this context (set at creation), or null.</summary>
    public ILlamaGraphObserver? GraphObserver => _callbacks.Observer;

    // ggml_backend_sched_eval_callback: bool (*)(struct ggml_tensor * t, bool ask, void * user_data).
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnEval(GgmlTensorNative* tensor, byte ask, void* data)
    {
        CallbackState? state = null;
        try
        {
            state = (CallbackState)GCHandle.FromIntPtr((nint)data).Target!;
            if (state.Observer is null || state.ObserverError is not null) return 0;
            if (ask != 0) return state.Observer.WantsResult(new GgmlTensor(tensor)) ? (byte)1 : (byte)0;
            state.Observer.OnComputed(new GgmlTensor(tensor));
            return 1;
        }
        catch (Exception e)
        {
            if (state is not null) state.ObserverError ??= e;
            return 0; // for a computed node, false stops the rest of the graph: its results are refused anyway
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnAbort(void* data)
    {
        try
        {
            var state = (CallbackState)GCHandle.FromIntPtr((nint)data).Target!;
            return state.Token.IsCancellationRequested ? (byte)1 : (byte)0;
        }
        catch
        {
            return 0;
        }
    }

    /// <summary>Threads for generation and for batch processing.</summary>
    public (int Threads, int ThreadsBatch) Threads
    {
        get => (NativeApi.llama_n_threads(Handle), NativeApi.llama_n_threads_batch(Handle));
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value.Threads, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(value.ThreadsBatch, 1);
            NativeApi.llama_set_n_threads(Handle, value.Threads, value.ThreadsBatch);
        }
    }

    /// <summary>
    /// Runs the model on a batch. Validates what would make llama.cpp abort (token and sequence ids, sizes) and
    /// throws <see cref="LlamaDecodeException"/> on a non-zero result, OperationCanceledException when cancelled
    /// (processed micro-batches then stay in the KV cache).
    /// </summary>
    public void Decode(LlamaBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        Validate(batch);
        ForgetOutputs();
        if (batch.UsesAdapters) SetTokenAdapters(batch);

        using var batchLease = new SafeHandleLease(batch.Handle);
        var capture = LlamaLogging.BeginCapture();
        _callbacks.Token = cancellationToken;
        _callbacks.ObserverError = null;
        int result;
        try
        {
            if (ReservePending)
            {
                lock (Model.AdapterSetGate) result = NativeApi.llama_decode(Handle, batch.ToNative());
                ReservePending = false;
            }
            else
            {
                result = NativeApi.llama_decode(Handle, batch.ToNative());
            }
        }
        finally
        {
            _callbacks.Token = default;
        }
        if (_callbacks.ObserverError is { } observerError)
        {
            _callbacks.ObserverError = null;
            throw new LlamaException("The graph observer failed during llama_decode; this batch's results are not usable: " + observerError.Message, observerError);
        }
        if (result != 0)
        {
            if (result == 2 && cancellationToken.IsCancellationRequested)
                throw new OperationCanceledException("llama_decode was aborted; processed micro-batches remain in the KV cache.", cancellationToken);
            throw new LlamaDecodeException(result, capture.Errors);
        }
        RememberOutputs(batch);
    }

    /// <summary>Hands the batch's per-token adapter slots to the pool; llama.cpp consumes them in the next decode.</summary>
    private void SetTokenAdapters(LlamaBatch batch)
    {
        var pool = AdapterPool ?? throw new ArgumentException("The batch names adapter slots but this context has no adapter pool.", nameof(batch));
        var k = batch.AdaptersPerToken;
        if (k > pool.AdaptersPerToken)
            throw new ArgumentException($"The batch uses {k} adapter slots per token; the pool takes at most {pool.AdaptersPerToken}.", nameof(batch));
        var (slots, scales) = batch.AdapterSlots;
        for (var i = 0; i < batch.Count * k; i++)
        {
            if (slots[i] >= pool.Slots)
                throw new ArgumentException($"Adapter slot {slots[i]} at batch index {i / k} must be below the pool's {pool.Slots} slots.", nameof(batch));
        }
        var capture = LlamaLogging.BeginCapture();
        fixed (int* s = slots)
        fixed (float* c = scales)
        {
            if (NativeApi.llama_lora_pool_set_tokens(Handle, batch.Count, k, s, c) != 0)
                throw LlamaException.FromNative("llama_lora_pool_set_tokens failed", capture.Errors);
        }
    }

    private void Validate(LlamaBatch batch)
    {
        if (batch.Count == 0) throw new ArgumentException("The batch is empty.", nameof(batch));
        if (batch.Count > BatchSize)
            throw new ArgumentException($"The batch has {batch.Count} tokens; this context accepts at most {BatchSize} (BatchSize).", nameof(batch));
        var vocabCount = Vocab.Count;
        for (var i = 0; i < batch.Count; i++)
        {
            var token = batch.GetToken(i);
            if ((uint)token >= (uint)vocabCount)
                throw new ArgumentException($"Token {token} at batch index {i} is outside the vocabulary [0, {vocabCount}).", nameof(batch));
            foreach (var seq in batch.GetSequenceIds(i))
            {
                if ((uint)seq >= (uint)SeqMax)
                    throw new ArgumentException($"Sequence id {seq} at batch index {i} must be below SeqMax ({SeqMax}).", nameof(batch));
            }
        }
    }

    private void RememberOutputs(LlamaBatch batch)
    {
        if (_outputs.Length < batch.Count) _outputs = new bool[Math.Max(batch.Count, _outputs.Length * 2)];
        for (var i = 0; i < batch.Count; i++) _outputs[i] = batch.GetOutput(i);
        _outputBatchCount = batch.Count;
    }

    internal void ForgetOutputs() => _outputBatchCount = 0;

    /// <summary>True when the last Decode produced logits for this batch index.</summary>
    public bool HasOutput(int batchIndex) => (uint)batchIndex < (uint)_outputBatchCount && _outputs[batchIndex];

    /// <summary>
    /// The n_vocab logits of a batch index that asked for output in the last Decode. The span points into the
    /// context and is valid until the next Decode or Dispose.
    /// </summary>
    public ReadOnlySpan<float> GetLogits(int batchIndex)
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        CheckOutput(batchIndex);
        var capture = LlamaLogging.BeginCapture();
        var logits = NativeApi.llama_get_logits_ith(Handle, batchIndex);
        if (logits == null) throw LlamaException.FromNative($"No logits for batch index {batchIndex}", capture.Errors);
        return new ReadOnlySpan<float>(logits, Vocab.Count);
    }

    /// <summary>The embedding of a batch index (context created with Embeddings = true); valid until the next Decode.</summary>
    public ReadOnlySpan<float> GetEmbeddings(int batchIndex)
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        CheckOutput(batchIndex);
        var capture = LlamaLogging.BeginCapture();
        var embd = NativeApi.llama_get_embeddings_ith(Handle, batchIndex);
        if (embd == null) throw LlamaException.FromNative($"No embeddings for batch index {batchIndex} (was the context created with Embeddings = true?)", capture.Errors);
        return new ReadOnlySpan<float>(embd, Model.EmbeddingLength);
    }

    internal void CheckOutput(int batchIndex)
    {
        if (!HasOutput(batchIndex))
            throw new ArgumentOutOfRangeException(nameof(batchIndex), batchIndex,
                "The last Decode produced no output for this batch index (mark the token with outputLogits).");
    }

    /// <summary>The context's adapter pool (per-token LoRA), once <see cref="CreateAdapterPool"/> made it.</summary>
    public LlamaAdapterPool? AdapterPool { get; private set; }

    /// <summary>
    /// Gives the context an adapter pool: <paramref name="slots"/> adapter slots of rank up to
    /// <paramref name="maxRank"/>, each token of a batch using up to <paramref name="adaptersPerToken"/> of them.
    /// F32 factors compute exactly as llama.cpp's own LoRA does on the CPU; F16 halves their memory; Q8_0 (maxRank a
    /// multiple of 32) about halves it again, rounding the products' inputs to 8 bits, for GPUs (it has no gathered form).
    /// <paramref name="expertRows"/> (0: <paramref name="maxRank"/>): the rows of one mul_mat_id expert in the form of
    /// weights in GPU memory, a multiple of maxRank; expertRows / maxRank consecutive slots share an expert, each token
    /// masking the others' rows (F32 and F16 only). CUDA's tiled mul_mat_id wants F16 B rows of 64 halves: rank-16
    /// slots four to an expert read no padding, where rank-16 slots padded to 64 would read four times the bytes.
    /// <paramref name="hostGathered"/> false makes weights in host memory take the form of weights in GPU memory
    /// (mul_mat_id, and views of one slot when every token uses it) instead of the faster gathered form: for tests
    /// of that form on a CPU.
    /// </summary>
    public LlamaAdapterPool CreateAdapterPool(int slots, int maxRank, int adaptersPerToken = 1, GgmlType type = GgmlType.F32,
        bool hostGathered = true, int expertRows = 0)
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRank, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(adaptersPerToken, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(expertRows, 0);
        if (type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0)) throw new ArgumentException($"The pool's factors are F32, F16 or Q8_0, not {type}.", nameof(type));
        if (type == GgmlType.Q8_0 && maxRank % 32 != 0)
            throw new ArgumentException($"A Q8_0 pool's rank must be a multiple of 32 (its B rows are whole Q8_0 blocks), not {maxRank}.", nameof(maxRank));
        if (expertRows == 0) expertRows = maxRank;
        if (expertRows % maxRank != 0)
            throw new ArgumentException($"An expert's rows ({expertRows}) must be a whole number of slots of rank {maxRank}.", nameof(expertRows));
        if (expertRows != maxRank && type == GgmlType.Q8_0)
            throw new ArgumentException("Q8_0 slots cannot share an expert (each slot's rows are written alone, and a Q8_0 block's scale spans them).", nameof(expertRows));
        if (AdapterPool is not null) throw new InvalidOperationException("This context already has an adapter pool.");
        var capture = LlamaLogging.BeginCapture();
        if (NativeApi.llama_lora_pool_init(Handle, slots, maxRank, adaptersPerToken, type, expertRows, hostGathered) != 0)
            throw LlamaException.FromNative("llama_lora_pool_init failed", capture.Errors);
        return AdapterPool = new LlamaAdapterPool(this, slots, maxRank, adaptersPerToken, type, expertRows);
    }

    /// <summary>
    /// Sets the LoRA adapters used by the following decodes (an empty list clears). Scale 0 disables an adapter.
    /// The context keeps the adapters alive while they are set.
    /// </summary>
    public void SetAdapters(IReadOnlyList<(LlamaLoraAdapter Adapter, float Scale)> adapters)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        var referenced = new List<SafeHandle>(adapters.Count);
        try
        {
            var pointers = new nint[adapters.Count];
            var scales = new float[adapters.Count];
            for (var i = 0; i < adapters.Count; i++)
            {
                var (adapter, scale) = adapters[i];
                ArgumentNullException.ThrowIfNull(adapter, nameof(adapters));
                ObjectDisposedException.ThrowIf(adapter.IsDisposed, adapter);
                if (!float.IsFinite(scale)) throw new ArgumentException($"Adapter scale {scale} is not finite.", nameof(adapters));
                if (!ReferenceEquals(adapter.Model.Handle, Model.Handle))
                    throw new ArgumentException($"Adapter '{adapter.Path}' was loaded for a different model.", nameof(adapters));
                bool added = false;
                adapter.Handle.DangerousAddRef(ref added);
                referenced.Add(adapter.Handle);
                pointers[i] = adapter.Handle.DangerousGetHandle();
                scales[i] = scale;
            }
            fixed (nint* a = pointers)
            fixed (float* s = scales)
            {
                ReservePending = true; // llama.cpp re-reserves on the next decode when the set changed
                var rc = NativeApi.llama_set_adapters_lora(Handle, adapters.Count == 0 ? null : a, (nuint)adapters.Count, adapters.Count == 0 ? null : s);
                if (rc != 0) throw new LlamaException($"llama_set_adapters_lora failed ({rc}).");
            }
        }
        catch
        {
            foreach (var h in referenced) h.DangerousRelease();
            throw;
        }
        Handle.ReplaceAdapterReferences([.. referenced]);
    }

    /// <summary>
    /// With <see cref="LlamaContextOptions.PersistentThreads"/>: puts the worker threads to sleep (they poll for
    /// work for a while after each computation otherwise). The next Decode wakes them. Call when going idle.
    /// </summary>
    public void PauseThreads()
    {
        ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
        CpuThreadpool.Pause(Handle.Threadpool);
    }

    /// <summary>Timings since creation or the last reset (needs NoPerf = false).</summary>
    public LlamaContextPerformance Performance
    {
        get
        {
            var d = NativeApi.llama_perf_context(Handle);
            return new(d.TStartMs, d.TLoadMs, d.TPEvalMs, d.TEvalMs, d.NPEval, d.NEval, d.NReused);
        }
    }

    public void ResetPerformance() => NativeApi.llama_perf_context_reset(Handle);

    public void Dispose() => Handle.Dispose();
}
