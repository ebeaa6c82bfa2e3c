using System.Diagnostics;
using System.Threading.Channels;
using Serve.Engine.Adapters;
using Serve.Llama;

namespace Serve.Engine.Scheduling;

/// <summary>
/// One request inside the engine. The caller's side only reads Output and sets Cancel; everything else belongs to
/// the scheduler thread.
/// </summary>
internal sealed class Sequence(long id, GenerationRequest request, int[] prompt, int maxTokens, LlamaSamplerChain sampler, LlamaVocab vocab,
    Channel<GenerationUpdate>? output = null, int choice = 0)
{
    private int _cancelled;

    public long Id { get; } = id;
    public GenerationRequest Request { get; } = request;
    public int[] Prompt { get; } = prompt;
    public int MaxTokens { get; } = maxTokens;
    public LlamaSamplerChain Sampler { get; } = sampler;
    public TokenTextDecoder Decoder { get; } = new(vocab);
    public StopStringMatcher Stops { get; } = new(request.Stop);
    public Channel<GenerationUpdate> Output { get; } = output ?? Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    /// <summary>Index of this choice (n > 1): choice 0 is queued and prefills; the others follow it.</summary>
    public int Choice { get; } = choice;

    /// <summary>All choices of the request when it asked for more than one (they share Output); null for one choice.</summary>
    public ChoiceGroup? Group { get; set; }

    /// <summary>A follower choice whose slot gets the prompt's KV copied from choice 0 once that is prefilled.</summary>
    public bool AwaitingLeader { get; set; }
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

/// <summary>The choices of one request (n > 1): Members[i] is choice i; Output completes when Remaining reaches 0.</summary>
internal sealed class ChoiceGroup(IReadOnlyList<Sequence> members)
{
    public IReadOnlyList<Sequence> Members { get; } = members;
    public int Remaining { get; set; } = members.Count;
    public IEnumerable<Sequence> Followers => Members.Skip(1);
}
