using System.Diagnostics;
using System.Threading.Channels;
using Serve.Engine.Adapters;
using Serve.Llama;

namespace Serve.Engine.Scheduling;

/// <summary>
/// One request inside the engine. The caller's side only reads Output and sets Cancel; everything else belongs to
/// the scheduler thread.
/// </summary>
internal sealed class Sequence(long id, GenerationRequest request, int[] prompt, int maxTokens, LlamaSamplerChain sampler, LlamaVocab vocab)
{
    private int _cancelled;

    public long Id { get; } = id;
    public GenerationRequest Request { get; } = request;
    public int[] Prompt { get; } = prompt;
    public int MaxTokens { get; } = maxTokens;
    public LlamaSamplerChain Sampler { get; } = sampler;
    public TokenTextDecoder Decoder { get; } = new(vocab);
    public StopStringMatcher Stops { get; } = new(request.Stop);
    public Channel<GenerationUpdate> Output { get; } = Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();

    /// <summary>Adapter names for metrics tags ("base" for none).</summary>
    public string AdapterTag { get; } = request.Adapters.Count == 0 ? "base" : string.Join('+', request.Adapters.Select(a => a.Name).Order(StringComparer.Ordinal));

    public bool CancelRequested => Volatile.Read(ref _cancelled) != 0;
    public void Cancel() => Interlocked.Exchange(ref _cancelled, 1);

    public KvSlot? Slot { get; set; }
    public AdapterLease? Lease { get; set; }
    public bool Finished { get; set; }

    /// <summary>Prompt tokens whose KV is computed (reused ones included).</summary>
    public int PromptCursor { get; set; }
    public int CachedPromptTokens { get; set; }
    public bool IsPrefilling => PromptCursor < Prompt.Length;

    /// <summary>The last sampled token, to be decoded next step.</summary>
    public int NextToken { get; set; } = -1;
    public int Generated { get; set; }
    public long FirstTokenAt { get; set; }
    public long LastTokenAt { get; set; }
}
