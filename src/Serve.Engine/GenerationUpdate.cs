namespace Serve.Engine;

/// <summary>What a running generation reports, in order: one Started, any number of Deltas, one Completed per choice (Choice: 0-based index, n > 1).</summary>
public abstract record GenerationUpdate;

/// <summary>The request has a sequence slot; PromptTokens were counted, CachedPromptTokens of them reused from the prefix cache.</summary>
public sealed record GenerationStarted(int PromptTokens, int CachedPromptTokens, AdapterConfiguration Adapters) : GenerationUpdate;

/// <summary>New text (complete UTF-8, with stop strings held back until they cannot match) and the tokens behind it.</summary>
public sealed record GenerationDelta(string Text, int TokenCount, IReadOnlyList<TokenLogprob>? Logprobs, int Choice = 0) : GenerationUpdate;

/// <summary>
/// The end of one choice: why, and the token counts for usage. With n > 1 choices each choice completes once (the
/// stream ends after the last); PromptTokens are the same in each (count them once), CompletionTokens are this
/// choice's own (sum them).
/// </summary>
public sealed record GenerationCompleted(FinishReason Reason, int PromptTokens, int CompletionTokens, int CachedPromptTokens, int Choice = 0) : GenerationUpdate;

public enum FinishReason
{
    /// <summary>An end-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>MaxTokens or the sequence's context was reached.</summary>
    Length,
}

/// <summary>A generated token's text, UTF-8 bytes and log-probability, with the top alternatives when asked.</summary>
public sealed record TokenLogprob(string Token, byte[] Bytes, float Logprob, IReadOnlyList<TopLogprob> TopLogprobs);

public sealed record TopLogprob(string Token, byte[] Bytes, float Logprob);
