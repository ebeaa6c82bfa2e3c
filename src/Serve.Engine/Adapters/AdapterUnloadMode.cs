namespace Serve.Engine.Adapters;

/// <summary>What unloading or removing an adapter does to sequences still using it.</summary>
public enum AdapterUnloadMode
{
    /// <summary>Wait (up to the caller's cancellation) until they finish; new requests are not held back.</summary>
    Drain,
    /// <summary>End them now with an AdapterUnloadedException delivered to their streams.</summary>
    Abort,
}
