namespace Serve.LoadTest.Scenarios;

/// <summary>Shared system prompts: each request starts with one of <see cref="Variants"/> fixed prompts,
/// so a server's prefix cache can reuse them.</summary>
public sealed record SystemPromptSpec
{
    public int Tokens { get; init; } = 128;
    public int Variants { get; init; } = 1;
}
