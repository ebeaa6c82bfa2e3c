namespace Serve.Engine;

/// <summary>How sequences of different adapter configurations share llama.cpp decodes.</summary>
public enum AdapterBatching
{
    /// <summary>Mixed when the model runs on the CPU; Grouped when layers are offloaded to a GPU.</summary>
    Auto,

    /// <summary>
    /// One llama_decode per step for every running sequence, whatever its adapters: llama.cpp computes the base
    /// model and the engine adds each token's own LoRA update after each targeted product (per-token adapters, as
    /// S-LoRA and Punica do). Mixed loads cost what one adapter's load costs.
    /// </summary>
    Mixed,

    /// <summary>One llama_decode per adapter configuration per step, with its adapters set on the llama.cpp context.</summary>
    Grouped,
}
