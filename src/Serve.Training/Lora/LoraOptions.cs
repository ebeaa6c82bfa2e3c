namespace Serve.Training.Lora;

/// <summary>Where and how big the low-rank update is.</summary>
public sealed record LoraOptions
{
    public int Rank { get; init; } = 8;
    public float Alpha { get; init; } = 16;
    public float Dropout { get; init; } = 0.05f;

    /// <summary>Rank-stabilised LoRA: scale alpha / sqrt(rank) instead of alpha / rank.</summary>
    public bool RsLora { get; init; }

    public IReadOnlyList<string> Targets { get; init; } = LoraTarget.All;

    public double Scale => RsLora ? Alpha / Math.Sqrt(Rank) : Alpha / (double)Rank;

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentException($"rank must be positive, got {Rank}");
        if (!(Alpha > 0)) throw new ArgumentException($"alpha must be positive, got {Alpha}");
        if (Dropout is < 0 or >= 1) throw new ArgumentException($"dropout must be in [0, 1), got {Dropout}");
        if (Targets.Count == 0) throw new ArgumentException("at least one LoRA target is needed");
        foreach (var t in Targets) LoraTarget.GgufName(t);
    }
}
