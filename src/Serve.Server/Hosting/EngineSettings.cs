using System.ComponentModel.DataAnnotations;
using Serve.Engine;
using Serve.Llama.Native;

namespace Serve.Server.Hosting;

/// <summary>
/// The engine's settings as configuration binds them (section "Serve:Engine"; --model and --adapters on the command
/// line). Null means the engine's own default, so defaults live in one place (EngineOptions).
/// </summary>
public sealed class EngineSettings
{
    public const string Section = "Serve:Engine";

    /// <summary>Base model GGUF; null = models/base.gguf found by walking up from the content root.</summary>
    public string? Model { get; set; }
    /// <summary>Served name of the base model; null = the file name without extension.</summary>
    public string? ModelName { get; set; }
    /// <summary>Adapter directory: every &lt;name&gt;.gguf in it is servable as model &lt;name&gt;.</summary>
    public string? Adapters { get; set; }

    /// <summary>Chat template for every request (--chat-template): "chatml", a Jinja file, or Jinja text; null = the models' own.</summary>
    public string? ChatTemplate { get; set; }

    [Range(1, 4096)] public int? MaxSequences { get; set; }
    /// <summary>Most choices (OpenAI's n) one request may ask for; each runs as a sequence.</summary>
    [Range(1, 128)] public int? MaxChoices { get; set; }
    [Range(16, 1 << 20)] public int? ContextPerSequence { get; set; }
    [Range(1, 1 << 20)] public int? BatchSize { get; set; }
    [Range(1, 1 << 20)] public int? UBatchSize { get; set; }
    [Range(1, 1 << 20)] public int? PrefillChunk { get; set; }
    /// <summary>Most prompt tokens in a step that also decodes (null: whatever BatchSize leaves); bounds inter-token gaps.</summary>
    [Range(1, 1 << 20)] public int? PrefillTokensWhileDecoding { get; set; }
    [Range(0, 1 << 20)] public int? MaxQueuedRequests { get; set; }
    [Range(1, 1024)] public int? MaxLoadedAdapters { get; set; }
    /// <summary>Share of MaxSequences one client (API key, or address without keys) may run at once.</summary>
    [Range(0.01, 1.0)] public double? ClientRunningShare { get; set; }
    /// <summary>Share of MaxQueuedRequests one client may hold.</summary>
    [Range(0.001, 1.0)] public double? ClientQueueShare { get; set; }
    public bool? PrefixCache { get; set; }
    [Range(0, 4096)] public int? PrefixCacheSlots { get; set; }
    public bool? KvUnified { get; set; }
    [Range(1, 1 << 20)] public int? DefaultMaxTokens { get; set; }
    [Range(1, 1024)] public int? Threads { get; set; }
    public int? GpuLayers { get; set; }
    public LlamaFlashAttnType? FlashAttention { get; set; }
    public GgmlType? KvCacheType { get; set; }
    /// <summary>Highest adapter rank the adapter pool holds (default 16).</summary>
    [Range(1, 1024)] public int? MaxAdapterRank { get; set; }
    /// <summary>Rank the adapter pool's slots are padded to (default: see EngineOptions.AdapterPoolRank).</summary>
    [Range(1, 1024)] public int? AdapterPoolRank { get; set; }
    /// <summary>Type of the adapter pool's factors, F32, F16 or Q8_0 (default: F16 where the build has a fast F16 kernel for it).</summary>
    public GgmlType? AdapterPoolType { get; set; }
    /// <summary>Most adapters one request may combine (default 4).</summary>
    [Range(1, 16)] public int? MaxAdaptersPerRequest { get; set; }

    public EngineOptions ToEngineOptions()
    {
        var o = new EngineOptions { ModelPath = Model ?? throw new InvalidOperationException("No base model configured.") };
        return o with
        {
            ModelName = ModelName,
            AdaptersDirectory = Adapters,
            ChatTemplate = ChatTemplate,
            MaxSequences = MaxSequences ?? o.MaxSequences,
            MaxChoices = MaxChoices ?? o.MaxChoices,
            ContextPerSequence = ContextPerSequence,
            BatchSize = BatchSize ?? Math.Max(o.BatchSize, MaxSequences ?? 0),
            UBatchSize = UBatchSize ?? o.UBatchSize,
            PrefillChunk = PrefillChunk ?? o.PrefillChunk,
            PrefillTokensWhileDecoding = PrefillTokensWhileDecoding ?? o.PrefillTokensWhileDecoding,
            MaxQueuedRequests = MaxQueuedRequests ?? o.MaxQueuedRequests,
            MaxLoadedAdapters = MaxLoadedAdapters ?? o.MaxLoadedAdapters,
            ClientRunningShare = ClientRunningShare ?? o.ClientRunningShare,
            ClientQueueShare = ClientQueueShare ?? o.ClientQueueShare,
            PrefixCache = PrefixCache ?? o.PrefixCache,
            PrefixCacheSlots = PrefixCacheSlots ?? o.PrefixCacheSlots,
            KvUnified = KvUnified ?? o.KvUnified,
            DefaultMaxTokens = DefaultMaxTokens ?? o.DefaultMaxTokens,
            Threads = Threads ?? o.Threads,
            GpuLayers = GpuLayers ?? o.GpuLayers,
            FlashAttention = FlashAttention ?? o.FlashAttention,
            KvCacheType = KvCacheType ?? o.KvCacheType,
            MaxAdapterRank = MaxAdapterRank ?? o.MaxAdapterRank,
            AdapterPoolRank = AdapterPoolRank ?? o.AdapterPoolRank,
            AdapterPoolType = AdapterPoolType ?? o.AdapterPoolType,
            MaxAdaptersPerRequest = MaxAdaptersPerRequest ?? o.MaxAdaptersPerRequest,
        };
    }
}
