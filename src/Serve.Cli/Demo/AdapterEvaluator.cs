using System.Text.RegularExpressions;
using Serve.Engine;
using Serve.Training.Data;

namespace Serve.Cli.Demo;

/// <summary>
/// Greedy answers through llama.cpp (the engine the server runs, same template and tokenizer) for held-out prompts,
/// with and without an adapter, scored by exact match against the target and by a behaviour pattern.
/// </summary>
public sealed class AdapterEvaluator : IDisposable
{
    private readonly InferenceEngine _engine;

    /// <param name="basePath">Base model GGUF.</param>
    /// <param name="adapterPath">Adapter GGUF, served under its file name; null evaluates the base alone.</param>
    public AdapterEvaluator(string basePath, string? adapterPath)
    {
        AdapterName = adapterPath is null ? null : Path.GetFileNameWithoutExtension(adapterPath);
        _engine = InferenceEngine.Start(new EngineOptions
        {
            ModelPath = basePath,
            AdaptersDirectory = adapterPath is null ? null : Path.GetDirectoryName(Path.GetFullPath(adapterPath)),
            MaxSequences = 8, ContextPerSequence = 1024, PrefixCache = false,
        });
    }

    public string? AdapterName { get; }

    public sealed record Answer(string Prompt, string Target, string Text, bool Exact, bool Pattern);

    public sealed record Score(int Count, double ExactRate, double PatternRate, IReadOnlyList<Answer> Answers);

    /// <summary>Scores the base (<paramref name="withAdapter"/> false) or the adapter on every example's last assistant turn.</summary>
    public async Task<Score> ScoreAsync(IReadOnlyList<ChatExample> examples, bool withAdapter, Regex? pattern, int maxTokens = 96)
    {
        if (withAdapter && AdapterName is null) throw new InvalidOperationException("no adapter to evaluate");
        using var gate = new SemaphoreSlim(8);
        var answers = await Task.WhenAll(examples.Select(async example =>
        {
            var last = example.Messages.Count - 1;
            if (last < 1 || example.Messages[last].Role != "assistant")
                throw new InvalidDataException($"line {example.Line}: the last message must be the assistant's answer to compare with");
            await gate.WaitAsync().ConfigureAwait(false);
            try
            {
                var text = await GenerateAsync(example.Messages.Take(last).Select(m => new ChatMessage(m.Role, m.Content)).ToArray(), withAdapter, maxTokens).ConfigureAwait(false);
                var target = example.Messages[last].Content;
                var trimmed = text.Trim();
                return new Answer(example.Messages[last - 1].Content, target, text, trimmed == target.Trim(), pattern?.IsMatch(trimmed) ?? false);
            }
            finally
            {
                gate.Release();
            }
        })).ConfigureAwait(false);
        var n = Math.Max(answers.Length, 1);
        return new Score(answers.Length, answers.Count(a => a.Exact) / (double)n, answers.Count(a => a.Pattern) / (double)n, answers);
    }

    public async Task<string> GenerateAsync(IReadOnlyList<ChatMessage> messages, bool withAdapter, int maxTokens)
    {
        var request = new GenerationRequest
        {
            Messages = messages,
            Adapters = withAdapter ? [new AdapterWeight(AdapterName!)] : [],
            MaxTokens = maxTokens,
            Sampling = new SamplingOptions { Temperature = 0 },
        };
        var text = new System.Text.StringBuilder();
        await foreach (var update in _engine.GenerateAsync(request).ConfigureAwait(false))
            if (update is GenerationDelta delta) text.Append(delta.Text);
        return text.ToString();
    }

    public void Dispose() => _engine.Dispose();
}
