namespace Serve.Engine;

/// <summary>
/// A request the engine has checked against every rule it has and whose prompt it has tokenized
/// (<see cref="InferenceEngine.Prepare"/>): what a caller that needs the prompt's token count before generating (a
/// server with its own prompt limit) passes to <see cref="InferenceEngine.GenerateAsync(PreparedGeneration, CancellationToken)"/>,
/// which then neither checks nor tokenizes it again. Only the engine that prepared it can run it.
/// </summary>
public sealed class PreparedGeneration
{
    internal PreparedGeneration(InferenceEngine engine, GenerationRequest request, int[] prompt, int maxTokens)
    {
        Engine = engine;
        Request = request;
        Prompt = prompt;
        MaxTokens = maxTokens;
    }

    /// <summary>The request as it was checked.</summary>
    public GenerationRequest Request { get; }

    /// <summary>Tokens in the prompt (what usage reports as prompt_tokens).</summary>
    public int PromptTokens => Prompt.Length;

    /// <summary>Most tokens each choice generates: the request's MaxTokens, or the engine's default capped by the context.</summary>
    public int MaxTokens { get; }

    internal int[] Prompt { get; }

    internal InferenceEngine Engine { get; }
}
