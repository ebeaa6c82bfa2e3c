namespace Serve.Training.Model;

/// <summary>How the frozen base matrices are held while training.</summary>
public enum BaseQuantization
{
    /// <summary>float32 (LoRA).</summary>
    None,

    /// <summary>4-bit NormalFloat blocks of 64 (QLoRA).</summary>
    Nf4,

    /// <summary>NF4 with the per-block absmax stored in 8 bits (QLoRA with double quantisation).</summary>
    Nf4DoubleQuant,
}
