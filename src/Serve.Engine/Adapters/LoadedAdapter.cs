namespace Serve.Engine.Adapters;

/// <summary>One adapter version resident in a slot of the adapter pool, counted by the sequences using it. Guarded by AdapterSlots' lock.</summary>
internal sealed class LoadedAdapter(string name, string version, int slot)
{
    public string Name { get; } = name;
    public string Version { get; } = version;

    /// <summary>Its slot in the context's adapter pool.</summary>
    public int Slot { get; } = slot;

    /// <summary>Completes when its factors are in the slot (faulted when the load failed).</summary>
    public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public bool IsReady { get; set; }
    public Exception? Failure { get; set; }
    public bool Pinned { get; set; }
    public int RefCount { get; set; }
    public long LastUsed { get; set; }

    /// <summary>Set once it left the resident set (unloaded, removed, replaced): its slot is freed when the last sequence ends.</summary>
    public TaskCompletionSource? Draining { get; set; }
}
