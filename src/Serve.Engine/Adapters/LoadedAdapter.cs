using Serve.Llama;

namespace Serve.Engine.Adapters;

/// <summary>One adapter version in memory, counted by the sequences using it. Guarded by the catalog's lock.</summary>
internal sealed class LoadedAdapter(string name, string version, LlamaLoraAdapter native, LoraWeights weights)
{
    public string Name { get; } = name;
    public string Version { get; } = version;
    public LlamaLoraAdapter Native { get; } = native;

    /// <summary>The same factors in managed memory, for per-token application in mixed batches.</summary>
    public LoraWeights Weights { get; } = weights;
    public int RefCount { get; set; }
    public long LastUsed { get; set; }

    /// <summary>Set once it left the loaded set (unloaded, removed, replaced): freed when the last sequence ends.</summary>
    public TaskCompletionSource? Draining { get; set; }
}
