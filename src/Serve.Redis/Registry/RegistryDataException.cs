namespace Serve.Redis.Registry;

/// <summary>Something in Redis is not what the registry wrote: garbage at a key, a missing blob, a hash mismatch.</summary>
public sealed class RegistryDataException(string message) : Exception(message);
