using System.Text;
using System.Text.RegularExpressions;
using Serve.Engine;

namespace Serve.Cli.Publishing;

/// <summary>A held-out conversation: the messages before the last answer, and that answer.</summary>
public sealed record HeldOutExample(int Line, IReadOnlyList<ChatMessage> Prompt, string Target)
{
    /// <summary>The conversation up to its last assistant turn, which becomes the target; null without one after a prompt.</summary>
    public static HeldOutExample? From(Serve.Training.Data.ChatExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        var last = example.Messages.Count - 1;
        while (last >= 0 && example.Messages[last].Role != "assistant") last--;
        if (last <= 0) return null;
        return new HeldOutExample(example.Line, [.. example.Messages.Take(last).Select(m => new ChatMessage(m.Role, m.Content))], example.Messages[last].Content);
    }
}

/// <summary>Greedy answers of the base and of the adapter to one held-out prompt.</summary>
public sealed record BehaviourRow(HeldOutExample Example, string BaseAnswer, string AdapterAnswer)
{
    public bool BaseMatches => BehaviourEval.Matches(BaseAnswer, Example.Target);
    public bool AdapterMatches => BehaviourEval.Matches(AdapterAnswer, Example.Target);
}

public sealed record BehaviourResult(IReadOnlyList<BehaviourRow> Rows)
{
    public double BaseMatchRate => Rows.Count == 0 ? 0 : Rows.Count(r => r.BaseMatches) / (double)Rows.Count;
    public double AdapterMatchRate => Rows.Count == 0 ? 0 : Rows.Count(r => r.AdapterMatches) / (double)Rows.Count;
}

/// <summary>
/// The serving-side check: the candidate adapter is loaded by the same engine the server runs (llama.cpp, the model's
/// chat template, its tokenizer), and every held-out prompt is answered greedily with and without it, all at once
/// so the engine batches them.
/// </summary>
public static partial class BehaviourEval
{
    /// <param name="maxTokens">Most tokens an answer may have; null = the target's length and a little more (publish's exact-match check).</param>
    public static async Task<BehaviourResult> RunAsync(string basePath, string adaptersDirectory, string adapterName,
        IReadOnlyList<HeldOutExample> examples, int? threads, CancellationToken cancellationToken = default, int? maxTokens = null)
    {
        var longest = examples.Count == 0 ? 0 : examples.Max(e => e.Target.Length);
        await using var engine = InferenceEngine.Start(new EngineOptions
        {
            ModelPath = basePath,
            AdaptersDirectory = adaptersDirectory,
            MaxSequences = 8,
            ContextPerSequence = 1024,
            Threads = threads,
            ModelName = "serve-publish-base",
        }, cancellationToken: cancellationToken);
        var withAdapter = examples.Select(e => AnswerAsync(engine, e, [new AdapterWeight(adapterName)], maxTokens, cancellationToken)).ToList();
        var without = examples.Select(e => AnswerAsync(engine, e, [], maxTokens, cancellationToken)).ToList();
        var adapterAnswers = await Task.WhenAll(withAdapter).ConfigureAwait(false);
        var baseAnswers = await Task.WhenAll(without).ConfigureAwait(false);
        return new BehaviourResult([.. examples.Select((e, i) => new BehaviourRow(e, baseAnswers[i], adapterAnswers[i]))]);
    }

    private static async Task<string> AnswerAsync(InferenceEngine engine, HeldOutExample example, IReadOnlyList<AdapterWeight> adapters, int? limit, CancellationToken cancellationToken)
    {
        // Room for the target and a little more: a wrong answer that rambles is cut, a right one ends on its own.
        var maxTokens = limit ?? Math.Min(256, engine.CountTokens(example.Target) + 16);
        var request = new GenerationRequest
        {
            Messages = example.Prompt,
            Adapters = adapters,
            Sampling = new SamplingOptions { Temperature = 0 },
            MaxTokens = maxTokens,
        };
        var text = new StringBuilder();
        try
        {
            await foreach (var update in engine.GenerateAsync(request, cancellationToken).ConfigureAwait(false))
                if (update is GenerationDelta delta) text.Append(delta.Text);
        }
        catch (ContextLengthExceededException)
        {
            return "(prompt too long)";
        }
        return text.ToString().Trim();
    }

    /// <summary>Normalised match: case, surrounding whitespace and punctuation, and inner runs of whitespace do not count.</summary>
    public static bool Matches(string answer, string target) => Normalise(answer) == Normalise(target);

    public static string Normalise(string text) =>
        Spaces().Replace(text.Trim().Trim('.', '!', '?', ',', ';', ':', '"', '\'').Trim(), " ").ToLowerInvariant();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
