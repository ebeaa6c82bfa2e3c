namespace Serve.Engine.Adapters;

/// <summary>A sequence was ended because its adapter was unloaded with AdapterUnloadMode.Abort (HTTP 503 to its client).</summary>
public sealed class AdapterUnloadedException(string name) : EngineException($"The adapter '{name}' was unloaded while this request was running.", "model")
{
    public string Name { get; } = name;
}
