using Serve.Llama;

namespace Serve.Engine.Adapters;

/// <summary>
/// The adapters one sequence runs with, held (ref-counted) from admission to the end of the sequence so their
/// slots are never reused under it. Release exactly once.
/// </summary>
internal sealed class AdapterLease
{
    private readonly AdapterSlots? _owner;
    private readonly LoadedAdapter[] _adapters;
    private int _released;

    internal AdapterLease(AdapterSlots? owner, AdapterConfiguration configuration, LoadedAdapter[] adapters, LlamaAdapterSlot[] slots)
    {
        _owner = owner;
        Configuration = configuration;
        _adapters = adapters;
        Slots = slots;
    }

    public static AdapterLease None { get; } = new(null, AdapterConfiguration.None, [], []);

    public AdapterConfiguration Configuration { get; }

    /// <summary>The pool slots and scales every token of the sequence runs with (empty: the base model).</summary>
    public LlamaAdapterSlot[] Slots { get; }

    internal IReadOnlyList<LoadedAdapter> Adapters => _adapters;

    public bool Uses(string version) => _adapters.Any(a => a.Version == version);

    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0 || _owner is null) return;
        _owner.Release(_adapters);
    }
}
