using Serve.Training.Lora;

namespace Serve.Training.Model;

/// <summary>How a GGUF base becomes a trainable TorchSharp model.</summary>
public sealed record LlamaLoadOptions
{
    /// <summary>LoRA on the targets it names; null loads the plain frozen base (for parity checks and inference).</summary>
    public LoraOptions? Lora { get; init; }

    public BaseQuantization Quantization { get; init; } = BaseQuantization.None;

    /// <summary>Seed of the LoRA A initialisation.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>"cpu", "cuda", "cuda:1", ...: chosen at run time.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Longest sequence the RoPE table covers; 0 = the model's context length.</summary>
    public int MaxPositions { get; init; }
}
