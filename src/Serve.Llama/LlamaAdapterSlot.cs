namespace Serve.Llama;

/// <summary>One adapter a token runs with: a slot of the context's <see cref="LlamaAdapterPool"/> and its scale.</summary>
public readonly record struct LlamaAdapterSlot(int Slot, float Scale);
