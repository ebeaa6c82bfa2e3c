using Serve.Llama;

namespace Serve.Engine.Adapters;

/// <summary>
/// The adapters one sequence runs with, held (ref-counted) from admission to the end of the sequence so they are
/// never freed under it. Release exactly once.
/// </summary>
internal sealed class AdapterLease
{
    private readonly AdapterCatalog? _catalog;
    private readonly LoadedAdapter[] _adapters;
    private int _released;

    internal AdapterLease(AdapterCatalog? catalog, AdapterConfiguration configuration, LoadedAdapter[] adapters, IReadOnlyList<(LlamaLoraAdapter, float)> natives,
        IReadOnlyList<(LoraWeights, float)> weights)
    {
        _catalog = catalog;
        Configuration = configuration;
        _adapters = adapters;
        Natives = natives;
        Weights = weights;
    }

    public static AdapterLease None { get; } = new(null, AdapterConfiguration.None, [], [], []);

    public AdapterConfiguration Configuration { get; }
    public IReadOnlyList<(LlamaLoraAdapter Adapter, float Scale)> Natives { get; }

    /// <summary>The same adapters and scales as managed factors (mixed batches apply these per token).</summary>
    public IReadOnlyList<(LoraWeights Weights, float Scale)> Weights { get; }
    internal IReadOnlyList<LoadedAdapter> Adapters => _adapters;

    public bool Uses(string version) => _adapters.Any(a => a.Version == version);

    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0 || _catalog is null) return;
        _catalog.Release(_adapters);
    }
}
