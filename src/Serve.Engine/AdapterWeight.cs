namespace Serve.Engine;

/// <summary>An adapter by name and the scale it is applied with.</summary>
public sealed record AdapterWeight(string Name, float Scale = 1f);
