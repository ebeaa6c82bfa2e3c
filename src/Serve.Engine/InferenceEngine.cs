using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serve.Engine.Adapters;
using Serve.Engine.Sampling;
using Serve.Engine.Scheduling;
using Serve.Llama;
using Serve.Llama.Native;

namespace Serve.Engine;

/// <summary>
/// One base model, one llama.cpp context and a scheduler thread that continuously batches requests of every
/// adapter configuration into shared decodes (per-token LoRA from the context's adapter pool). Thread-safe. Metrics are published on the System.Diagnostics.Metrics meter "Serve.Engine".
/// </summary>
public sealed class InferenceEngine : IAsyncDisposable, IDisposable
{
    /// <summary>Meter name of the engine's instruments.</summary>
    public const string MeterName = "Serve.Engine";

    /// <summary>Most stop strings per request.</summary>
    public const int MaxStopStrings = 16;

    private readonly LlamaModel _model;
    private readonly LlamaContext _context;
    private readonly BatchScheduler _scheduler;
    private readonly EngineMeters _meters;
    private readonly ILogger _logger;
    private readonly ChatFormatter _chat;
    private long _nextId;
    private int _disposed;

    private InferenceEngine(EngineOptions options, LlamaModel model, LlamaContext context, BaseModelInfo info, AdapterCatalog catalog, ILoggerFactory loggers)
    {
        Options = options;
        _model = model;
        _chat = new ChatFormatter(model, options.ChatTemplate);
        _context = context;
        BaseModel = info;
        Adapters = catalog;
        _logger = loggers.CreateLogger<InferenceEngine>();
        _meters = new EngineMeters(() => Status);
        _scheduler = new BatchScheduler(context, catalog, options, _meters, loggers.CreateLogger<BatchScheduler>());
        catalog.AbortSequences = _scheduler.AbortAdapter;
        catalog.Slots.PrepareTargets = _scheduler.PrepareTargets;
        catalog.Slots.Wake = _scheduler.Wake;
        catalog.Slots.Meters = _meters;
    }

    /// <summary>Loads the base model (blocking), scans the adapter directory and starts the scheduler. Throws on a bad model.</summary>
    public static InferenceEngine Start(EngineOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        loggerFactory ??= NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger<InferenceEngine>();
        LlamaLogging.SetLoggerFactory(loggerFactory);

        var path = Path.GetFullPath(options.ModelPath);
        if (!File.Exists(path)) throw new FileNotFoundException($"The base model '{path}' does not exist.", path);
        logger.LogInformation("Loading base model {Path}", path);
        var sha = Serve.Gguf.GgufFile.Sha256(path);
        cancellationToken.ThrowIfCancellationRequested();
        var model = LlamaModel.Load(path, new LlamaModelOptions { GpuLayers = options.GpuLayers }, cancellationToken);
        options = options with
        {
            ContextPerSequence = options.ContextPerSequence
                ?? (model.TrainContextLength > 0 ? Math.Min(model.TrainContextLength, EngineOptions.DefaultContextPerSequence) : EngineOptions.DefaultContextPerSequence),
        };
        var contextPerSequence = options.ContextPerSequence.Value;
        LlamaContext? context = null;
        AdapterCatalog? catalog = null;
        try
        {
            var slots = options.MaxSequences + (options.PrefixCache ? options.PrefixCacheSlots : 0);
            var onGpu = options.GpuLayers != 0 && LlamaBackend.Devices.Any(d => d.Type is GgmlBackendDeviceType.Gpu or GgmlBackendDeviceType.IntegratedGpu);
            context = LlamaContext.Create(model, new LlamaContextOptions
            {
                PersistentThreads = true, // one ggml threadpool, paused while the scheduler idles
                ContextSize = (options.KvUnified ? options.MaxSequences : slots) * contextPerSequence,
                BatchSize = options.BatchSize,
                UBatchSize = Math.Min(options.UBatchSize, options.BatchSize),
                SeqMax = slots,
                KvUnified = options.KvUnified, // see EngineOptions.KvUnified
                Threads = options.Threads,
                FlashAttention = options.FlashAttention,
                TypeK = options.KvCacheType,
                TypeV = options.KvCacheType,
            });
            // Per-token LoRA: one pool slot per resident adapter. F16 factors by default: half F32's memory and
            // bandwidth, and lossless for adapters stored in F16 (F32 factors compute on the CPU exactly as
            // llama.cpp's own LoRA does). On the CPU, F16 only where the build has the pool's F16 kernel; without it
            // F16 factors would take mul_mat_id, far slower there. On a GPU, CUDA's tensor-core mul_mat_id kernel
            // (mmf) needs each expert's rows in blocks of 32 and the B stack's rows 64 halves long; otherwise each
            // product falls back to a per-expert loop that copies the token->slot map to the host and synchronizes,
            // twice per targeted weight. So mul_mat_id's experts there are 64 rows: slots of rank 16 go four to an
            // expert, each token masking the others' rows (PoolExpertRows), rather than each padded to 64 with zeros,
            // which would read four times the bytes. Q8_0 factors (opt-in) take CUDA's quantized kernel (mmq), which
            // needs only whole 32-value blocks: rank 32, one slot an expert.
            // (AdapterPoolGpuForm: the pool a GPU gets, in host memory, for tests on a machine without one)
            var gpuPool = onGpu || options.AdapterPoolGpuForm;
            var poolType = options.AdapterPoolType ?? (gpuPool || LlamaAdapterPool.HostGathers(GgmlType.F16) ? GgmlType.F16 : GgmlType.F32);
            var poolRank = options.AdapterPoolRank ?? DefaultPoolRank(options.MaxAdapterRank, poolType, gpuPool);
            var expertRows = PoolExpertRows(poolRank, poolType, gpuPool);
            if (!onGpu && poolType != GgmlType.F32 && !LlamaAdapterPool.HostGathers(poolType))
                logger.LogWarning(
                    "AdapterPoolType {Type}: this CPU has no adapter-pool kernel for it, so mixed-adapter batches take mul_mat_id, which is slower; F32 keeps the pool's kernel",
                    poolType);
            if (onGpu && poolType != GgmlType.Q8_0 && expertRows % 64 != 0)
                logger.LogWarning(
                    "AdapterPoolRank {Rank} makes mul_mat_id experts of {Rows} rows, neither a multiple of 64 nor a divisor of it: CUDA's tiled kernel takes none of them, so mixed-adapter batches take a slower path (leave AdapterPoolRank unset for the default)",
                    poolRank, expertRows);
            context.CreateAdapterPool(options.MaxLoadedAdapters, poolRank, options.AdaptersPerToken, poolType, hostGathered: !options.AdapterPoolGpuForm,
                expertRows: expertRows);
            if (model.TrainContextLength > 0 && contextPerSequence > model.TrainContextLength)
                logger.LogWarning(
                    "ContextPerSequence ({Context}) is longer than the model was trained for ({Trained} tokens): sequences past that length may degrade",
                    contextPerSequence, model.TrainContextLength);
            var name = options.ModelName ?? Path.GetFileNameWithoutExtension(path);
            var architecture = model.Metadata.GetValueOrDefault("general.architecture") ?? "unknown";
            var info = new BaseModelInfo(name, path, sha, architecture, model.ParameterCount, model.Vocab.Count,
                contextPerSequence, model.TrainContextLength, new DateTimeOffset(File.GetLastWriteTimeUtc(path), TimeSpan.Zero));
            var directory = options.AdaptersDirectory ?? Path.Combine(Path.GetTempPath(), $"serve-adapters-{Environment.ProcessId}");
            if (options.AdaptersDirectory is null)
                logger.LogWarning("No adapters directory configured: adapters registered at run time go to {Directory} and are lost at exit", directory);
            catalog = new AdapterCatalog(model, BaseModelShapes.Read(path, sha), name, Path.GetFullPath(directory), options.MaxLoadedAdapters,
                options.MaxAdapterRank, loggerFactory.CreateLogger<AdapterCatalog>());
            catalog.Rescan();
            var engine = new InferenceEngine(options, model, context, info, catalog, loggerFactory);
            catalog.Slots.Pool = context.AdapterPool;
            logger.LogInformation(
                "Serving {Name} ({Parameters:N0} parameters, sha256 {Sha}) with {Adapters} adapters from {Directory}; {Sequences} sequences x {Context} tokens, {Slots} adapter slots up to rank {Rank} ({PoolType} factors, slots of rank {PoolRank}, {PerExpert} to a mul_mat_id expert)",
                name, model.ParameterCount, sha[..12], catalog.List().Count, catalog.Directory, options.MaxSequences, contextPerSequence, options.MaxLoadedAdapters, options.MaxAdapterRank,
                context.AdapterPool!.Type, context.AdapterPool.MaxRank, context.AdapterPool.ExpertRows / context.AdapterPool.MaxRank);
            return engine;
        }
        catch
        {
            catalog?.Dispose();
            context?.Dispose();
            model.Dispose();
            throw;
        }
    }

    public EngineOptions Options { get; }

    /// <summary>The context's adapter pool (its rank, type and experts, for tests).</summary>
    internal LlamaAdapterPool AdapterPool => _context.AdapterPool!;

    public BaseModelInfo BaseModel { get; }
    public AdapterCatalog Adapters { get; }
    public EngineStatus Status => _scheduler.Status;

    /// <summary>
    /// The adapter pool's rank on a GPU (F16 and F32): MaxAdapterRank rounded up to a power of two up to 64, so that
    /// a whole number of slots fills each 64-row expert (see Start), and to a multiple of 64 above that.
    /// </summary>
    internal static int GpuPoolRank(int maxAdapterRank) =>
        maxAdapterRank >= 64 ? (maxAdapterRank + 63) / 64 * 64 : (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)maxAdapterRank);

    /// <summary>
    /// The pool's rank when AdapterPoolRank is unset. Q8_0: a multiple of 32 anywhere (whole blocks; CUDA's quantized
    /// mul_mat_id takes it as it is). F16 and F32 on a GPU: GpuPoolRank. On the CPU: MaxAdapterRank (the gathered
    /// kernel reads only each slot's own rank).
    /// </summary>
    internal static int DefaultPoolRank(int maxAdapterRank, GgmlType type, bool onGpu) =>
        type == GgmlType.Q8_0 ? (maxAdapterRank + 31) / 32 * 32 : onGpu ? GpuPoolRank(maxAdapterRank) : maxAdapterRank;

    /// <summary>
    /// The rows of one mul_mat_id expert for weights in GPU memory: on a GPU with F16 or F32 factors, 64 where the
    /// pool's rank divides it (64 / rank slots share an expert, CUDA's tiled kernel taking 64-row experts with no
    /// padding read), else the rank itself (one slot an expert: ranks of 64 and more, Q8_0, and the CPU, where the
    /// gathered form reads each slot alone anyway).
    /// </summary>
    internal static int PoolExpertRows(int poolRank, GgmlType type, bool onGpu) =>
        onGpu && type != GgmlType.Q8_0 && poolRank < 64 && 64 % poolRank == 0 ? 64 : poolRank;

    /// <summary>True for the base model's served name and for "base".</summary>
    public bool IsBaseModelName(string model) => model == "base" || model == BaseModel.Name;

    /// <summary>
    /// The prompt text the chat template makes of these messages (what Messages requests decode): the template of
    /// the first adapter that carries one, else the --chat-template override or the base model's, else ChatML.
    /// Throws InvalidGenerationRequestException when the template refuses the conversation.
    /// </summary>
    public string FormatChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<AdapterWeight>? adapters = null, IReadOnlyList<Serve.Templates.ChatTool>? tools = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return ChatFormatter.Format(_chat.For(adapters ?? [], Adapters), messages, tools);
    }

    /// <summary>The chat template a request with these adapters is formatted with (what it supports: tools, system role).</summary>
    public Serve.Templates.ChatTemplate ChatTemplateFor(IReadOnlyList<AdapterWeight> adapters) => _chat.For(adapters, Adapters);

    /// <summary>Tokens of a text as a prompt would be tokenized (special tokens parsed, BOS added when the model wants it).</summary>
    public int CountTokens(string text) => Tokenize(text, addSpecial: true).Length;

    /// <summary>Tokens of a text; addSpecial adds BOS when the model wants it (as prompts are tokenized); special tokens are parsed.</summary>
    public int[] Tokenize(string text, bool addSpecial)
    {
        Interlocked.Increment(ref _tokenizations);
        return _model.Vocab.Tokenize(text, addSpecial, parseSpecial: true);
    }

    /// <summary>Texts this engine has tokenized, prompts and callers' texts alike (tests prove a request is tokenized once).</summary>
    internal long Tokenizations => Interlocked.Read(ref _tokenizations);
    private long _tokenizations;

    /// <summary>
    /// The text a request decodes: its Prompt as given, or its Messages through the chat template (<see cref="FormatChat"/>).
    /// Throws InvalidGenerationRequestException for a request with neither, both, or an empty or role-less message list,
    /// or one the template refuses.
    /// </summary>
    public string PromptText(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Messages is null)
            return request.Prompt ?? throw new InvalidGenerationRequestException("Give messages or a prompt.", "messages");
        if (request.Prompt is not null) throw new InvalidGenerationRequestException("Give either messages or a prompt, not both.", "prompt");
        if (request.Messages.Count == 0) throw new InvalidGenerationRequestException("messages must not be empty.", "messages");
        foreach (var m in request.Messages)
        {
            if (m is null || string.IsNullOrWhiteSpace(m.Role)) throw new InvalidGenerationRequestException("Every message needs a role.", "messages");
        }
        return FormatChat(request.Messages, request.Adapters, request.Tools);
    }

    /// <summary>The text of tokens, special tokens written out; throws ArgumentException for an id outside the vocabulary.</summary>
    public string Detokenize(IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        for (var i = 0; i < tokens.Count; i++)
            if (!_model.Vocab.IsValid(tokens[i])) throw new ArgumentException($"Token {tokens[i]} (at {i}) is not in the vocabulary of {_model.Vocab.Count} tokens.", nameof(tokens));
        return _model.Vocab.Detokenize(tokens.ToArray(), removeSpecial: false, unparseSpecial: true);
    }

    /// <summary>
    /// True when text is sure to need more than tokens tokens, judged from its UTF-8 length alone: no token covers more
    /// bytes than the vocabulary's longest piece (twice that, for tokenizers that normalize text). Lets a huge prompt
    /// be refused in microseconds instead of being tokenized first.
    /// </summary>
    internal bool IsCertainlyLongerThan(string text, int tokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        if ((long)text.Length * 3 <= 2L * LongestTokenBytes * tokens) return false; // UTF-8 is at most 3 bytes per UTF-16 unit
        return System.Text.Encoding.UTF8.GetByteCount(text) > 2L * LongestTokenBytes * tokens;
    }

    /// <summary>The most UTF-8 bytes a prompt that fits the context can have (beyond it, <see cref="IsCertainlyLongerThan"/>).</summary>
    public long MaxPromptBytes => 2L * LongestTokenBytes * Options.ContextPerSequence!.Value;

    private int LongestTokenBytes => _longestTokenBytes ??= Math.Max(1, Enumerable.Range(0, _model.Vocab.Count).Max(t => _model.Vocab.TokenToPiece(t, special: true).Length));
    private int? _longestTokenBytes;

    /// <summary>
    /// Queues a request and streams its updates: GenerationStarted, GenerationDelta*, GenerationCompleted. Invalid
    /// requests throw (InvalidGenerationRequestException, ContextLengthExceededException, AdapterNotFoundException)
    /// from the first MoveNextAsync, before anything is queued; a full queue throws EngineOverloadedException.
    /// Cancelling the token (client gone) frees the sequence and its KV within one scheduler step.
    /// </summary>
    public IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Run(null, request, cancellationToken);
    }

    /// <summary>
    /// As <see cref="GenerateAsync(GenerationRequest, CancellationToken)"/> for a request this engine already prepared:
    /// it is neither checked nor tokenized again. Only an invalid grammar, a full queue or a disposed engine still
    /// throw from the first MoveNextAsync.
    /// </summary>
    public IAsyncEnumerable<GenerationUpdate> GenerateAsync(PreparedGeneration prepared, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        if (!ReferenceEquals(prepared.Engine, this)) throw new ArgumentException("The request was prepared by another engine.", nameof(prepared));
        return Run(prepared, prepared.Request, cancellationToken);
    }

    private async IAsyncEnumerable<GenerationUpdate> Run(PreparedGeneration? prepared, GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        var sequence = Sequences(prepared ?? Prepare(request));
        try
        {
            _scheduler.Enqueue(sequence);
        }
        catch
        {
            sequence.Sampler.Dispose();
            foreach (var f in sequence.Group?.Followers ?? []) f.Sampler.Dispose();
            throw;
        }
        using var registration = cancellationToken.Register(() =>
        {
            sequence.Cancel();
            _scheduler.Wake();
        });
        try
        {
            await foreach (var update in sequence.Output.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return update;
        }
        finally
        {
            if (!sequence.Output.Reader.Completion.IsCompleted)
            {
                sequence.Cancel();
                _scheduler.Wake();
            }
        }
    }

    /// <summary>
    /// Checks a request against every rule the engine has (each lives here only: callers such as the server map these
    /// errors, they do not repeat the checks) and tokenizes its prompt, once. Cheap rules come first, so a request they
    /// refuse costs no template rendering or tokenization. Throws InvalidGenerationRequestException (with the field at
    /// fault in Param), ContextLengthExceededException or AdapterNotFoundException.
    /// </summary>
    public PreparedGeneration Prepare(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.MaxTokens is < 1) throw new InvalidGenerationRequestException($"max_tokens must be at least 1, got {request.MaxTokens}.", "max_tokens");
        if (request.Choices < 1 || request.Choices > Options.MaxChoices)
            throw new InvalidGenerationRequestException($"n must be between 1 and {Options.MaxChoices} (MaxChoices), got {request.Choices}.", "n");
        if (request.Choices > Options.MaxSequences)
            throw new InvalidGenerationRequestException($"n ({request.Choices}) needs that many sequences at once, more than this engine runs ({Options.MaxSequences}, MaxSequences).", "n");
        if (request.TopLogprobs is < 0 or > 20)
            throw new InvalidGenerationRequestException($"top_logprobs must be between 0 and 20, got {request.TopLogprobs}.", "top_logprobs");
        if (request.TopLogprobs is not null && !request.Logprobs)
            throw new InvalidGenerationRequestException("top_logprobs needs logprobs to be true.", "top_logprobs");
        if (request.Stop.Count > MaxStopStrings)
            throw new InvalidGenerationRequestException($"At most {MaxStopStrings} stop strings are allowed, got {request.Stop.Count}.", "stop");
        if (request.Stop.Any(string.IsNullOrEmpty)) throw new InvalidGenerationRequestException("Stop strings must not be empty.", "stop");
        SamplerFactory.Validate(request.Sampling, _model.Vocab.Count);
        CheckAdapters(request.Adapters);

        var text = PromptText(request);
        var param = request.Messages is null ? "prompt" : "messages";
        var limit = Options.ContextPerSequence!.Value;
        // hardening (issue 17): the cheap byte-length bound before the full tokenization of a huge prompt.
        if (IsCertainlyLongerThan(text, limit))
            throw new ContextLengthExceededException(
                $"This model's maximum context length is {limit} tokens. However, your {param} is {System.Text.Encoding.UTF8.GetByteCount(text)} bytes long, more than {limit} tokens can hold.",
                limit, limit);
        int[] prompt;
        try
        {
            prompt = Tokenize(text, addSpecial: true);
        }
        catch (LlamaException e)
        {
            throw new InvalidGenerationRequestException($"The {param} could not be tokenized: {e.Message}", param);
        }
        if (prompt.Length == 0) throw new InvalidGenerationRequestException("The prompt is empty.", param);
        if (prompt.Length >= limit)
            throw new ContextLengthExceededException(
                $"This model's maximum context length is {limit} tokens. However, your {param} resulted in {prompt.Length} tokens.", prompt.Length, limit);
        if (request.MaxTokens is { } asked && prompt.Length + asked > limit)
            throw new ContextLengthExceededException(
                $"This model's maximum context length is {limit} tokens. However, you requested {prompt.Length + asked} tokens ({prompt.Length} in the {param}, {asked} for the completion). Please reduce the length of the {param} or completion.",
                prompt.Length, limit);
        var maxTokens = request.MaxTokens ?? Math.Min(Options.DefaultMaxTokens, limit - prompt.Length);
        return new PreparedGeneration(this, request, prompt, maxTokens);
    }

    /// <summary>The sequences of a prepared request, one per choice (choice 0 first), with their sampler chains.</summary>
    private Sequence Sequences(PreparedGeneration prepared)
    {
        var request = prepared.Request;
        var id = Interlocked.Increment(ref _nextId);
        var choices = new List<Sequence>(request.Choices);
        try
        {
            for (var i = 0; i < request.Choices; i++)
            {
                // Choice i samples with seed + i, so each choice is reproducible on its own.
                var sampling = i > 0 && request.Sampling.Seed is { } seed ? request.Sampling with { Seed = unchecked(seed + (uint)i) } : request.Sampling;
                LlamaSamplerChain sampler;
                try
                {
                    sampler = SamplerFactory.Create(_model, sampling);
                }
                catch (LlamaException e)
                {
                    throw new InvalidGenerationRequestException($"The grammar is invalid: {e.Message}", "grammar");
                }
                choices.Add(new Sequence(id, request, prepared.Prompt, prepared.MaxTokens, sampler, _model.Vocab, choices.Count > 0 ? choices[0].Output : null, i) { AwaitingLeader = i > 0 });
            }
        }
        catch
        {
            foreach (var c in choices) c.Sampler.Dispose();
            throw;
        }
        if (choices.Count > 1)
        {
            var group = new ChoiceGroup(choices);
            foreach (var c in choices) c.Group = group;
        }
        return choices[0];
    }

    private void CheckAdapters(IReadOnlyList<AdapterWeight> adapters)
    {
        if (adapters.Count > Options.AdaptersPerToken)
            throw new InvalidGenerationRequestException($"At most {Options.AdaptersPerToken} adapters can be combined (MaxAdaptersPerRequest, at most MaxLoadedAdapters).", "adapters");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < adapters.Count; i++)
        {
            var a = adapters[i];
            if (a is null || string.IsNullOrEmpty(a.Name)) throw new InvalidGenerationRequestException("Every entry of 'adapters' needs a name.", $"adapters[{i}].name");
            if (!seen.Add(a.Name)) throw new InvalidGenerationRequestException($"The adapter '{a.Name}' is listed twice.", "adapters");
            if (!float.IsFinite(a.Scale) || Math.Abs(a.Scale) > 100f)
                throw new InvalidGenerationRequestException($"The scale of '{a.Name}' must be a finite number between -100 and 100, got {a.Scale}.", "adapters");
            if (!Adapters.Contains(a.Name)) throw new AdapterNotFoundException(a.Name);
        }
    }

    private static void Validate(EngineOptions o)
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message, "options");
        }
        Require(o.MaxSequences >= 1, $"MaxSequences must be at least 1, got {o.MaxSequences}.");
        Require(o.ContextPerSequence is null or >= 16, $"ContextPerSequence must be at least 16, got {o.ContextPerSequence}.");
        Require(o.BatchSize >= o.MaxSequences, $"BatchSize ({o.BatchSize}) must be at least MaxSequences ({o.MaxSequences}): every running sequence decodes a token per step.");
        Require(o.UBatchSize >= 1, $"UBatchSize must be at least 1, got {o.UBatchSize}.");
        Require(o.PrefillChunk >= 1, $"PrefillChunk must be at least 1, got {o.PrefillChunk}.");
        Require(o.PrefillTokensWhileDecoding is null or >= 1,
            $"PrefillTokensWhileDecoding must be at least 1 (or unset), got {o.PrefillTokensWhileDecoding}: with 0 no prompt would start while anything decodes.");
        Require(o.MaxQueuedRequests >= 0, $"MaxQueuedRequests must not be negative, got {o.MaxQueuedRequests}.");
        Require(o.MaxLoadedAdapters >= 1, $"MaxLoadedAdapters must be at least 1, got {o.MaxLoadedAdapters}.");
        Require(o.MaxAdapterRank is >= 1 and <= 1024, $"MaxAdapterRank must be in [1, 1024], got {o.MaxAdapterRank}.");
        Require(o.AdapterPoolType is null or GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0,
            $"AdapterPoolType must be F32, F16 or Q8_0, got {o.AdapterPoolType}.");
        Require(o.AdapterPoolType != GgmlType.Q8_0 || o.AdapterPoolRank is null || o.AdapterPoolRank % 32 == 0,
            $"AdapterPoolRank must be a multiple of 32 with AdapterPoolType Q8_0 (whole Q8_0 blocks), got {o.AdapterPoolRank}.");
        Require(o.AdapterPoolRank is null || (o.AdapterPoolRank >= o.MaxAdapterRank && o.AdapterPoolRank <= 1024),
            $"AdapterPoolRank must be in [MaxAdapterRank ({o.MaxAdapterRank}), 1024], got {o.AdapterPoolRank}.");
        Require(o.MaxAdaptersPerRequest is >= 1 and <= 16, $"MaxAdaptersPerRequest must be in [1, 16], got {o.MaxAdaptersPerRequest}.");
        Require(o.PrefixCacheSlots >= 0, $"PrefixCacheSlots must not be negative, got {o.PrefixCacheSlots}.");
        Require(o.DefaultMaxTokens >= 1, $"DefaultMaxTokens must be at least 1, got {o.DefaultMaxTokens}.");
        Require(o.Threads is null or >= 1, $"Threads must be at least 1, got {o.Threads}.");
        Require(o.ClientRunningShare is > 0 and <= 1, $"ClientRunningShare must be in (0, 1], got {o.ClientRunningShare}.");
        Require(o.MaxChoices >= 1, $"MaxChoices must be at least 1, got {o.MaxChoices}.");
        Require(o.ClientQueueShare is > 0 and <= 1, $"ClientQueueShare must be in (0, 1], got {o.ClientQueueShare}.");
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _scheduler.Dispose();
        _meters.Dispose();
        Adapters.Dispose();
        _context.Dispose();
        _model.Dispose();
        _logger.LogInformation("Engine stopped");
    }
}
