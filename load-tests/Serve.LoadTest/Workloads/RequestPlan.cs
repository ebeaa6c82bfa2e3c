namespace Serve.LoadTest.Workloads;

/// <summary>One request as planned before it is sent.</summary>
public sealed record RequestPlan(
    string Adapter,
    string? SystemPrompt,
    string Prompt,
    int PromptTokens,
    int MaxTokens,
    bool Stream,
    double Temperature,
    int? Seed,
    bool Repeated);
