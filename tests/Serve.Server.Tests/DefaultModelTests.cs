using System.ClientModel;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;
using OpenAI.Chat;
using Serve.Models;
using Serve.Server.Hosting;

namespace Serve.Server.Tests;

/// <summary>
/// The newcomer's first minutes, on the committed files: a server started with no model or adapter settings serves
/// models/base.gguf and models/adapters, the base answers in readable, on-topic English, and each demo adapter shows
/// its behaviour on held-out prompts that the base answers in plain prose. Through the official OpenAI SDK.
/// </summary>
public sealed class DefaultModelTests : IAsyncLifetime
{
    private WebApplication? _app;
    private Uri? _address;

    public async Task InitializeAsync()
    {
        // No --model and no --adapters: the defaults are found by walking up to the repository's models/.
        _app = ServeApplication.Build(["--urls", "http://127.0.0.1:0", "--Serve:Engine:Threads=1", "--Serve:Engine:ContextPerSequence=1024"], builder =>
        {
            builder.Logging.ClearProviders();
        });
        await _app.StartAsync();
        await _app.Services.GetRequiredService<EngineHost>().Ready.WaitAsync(TimeSpan.FromSeconds(60));
        _address = new Uri(_app.Urls.First().TrimEnd('/') + "/v1");
    }

    public async Task DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }

    private ChatClient Chat(string model) => new(model, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _address });

    private async Task<string> AskAsync(string model, string question, int maxTokens = 80)
    {
        ChatCompletion completion = await Chat(model).CompleteChatAsync([new UserChatMessage(question)], new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = maxTokens });
        return completion.Content[0].Text.Trim();
    }

    private static readonly Lazy<HashSet<string>> CorpusWords = new(() =>
        [.. Regex.Matches(EmbeddedCorpus.Text.ToLowerInvariant(), "[a-z']+").Select(m => m.Value)]);

    private static double KnownWordShare(string text)
    {
        var words = Regex.Matches(text.ToLowerInvariant(), "[a-z']+").Select(m => m.Value).ToList();
        return words.Count == 0 ? 0 : words.Count(CorpusWords.Value.Contains) / (double)words.Count;
    }

    [Fact]
    public async Task Defaults_ServeTheBaseAndTheDemoAdapters()
    {
        var models = await new OpenAI.Models.OpenAIModelClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _address }).GetModelsAsync();
        var ids = models.Value.Select(m => m.Id).ToHashSet();
        Assert.Superset(new HashSet<string> { "base", "json", "pirate", "mood" }, ids);
    }

    [Theory]
    [InlineData("What is the weather like today?", "weather|rain|cloud|sun|wind|cool|warm")]
    [InlineData("How do I cook rice?", "rice|water|pot|cook|boil")]
    [InlineData("What is a LoRA adapter?", "adapter|model|numbers|small|train")]
    public async Task Base_AnswersInReadableOnTopicEnglish(string question, string topicWords)
    {
        var answer = await AskAsync("base", question);
        Assert.True(answer.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length >= 6, $"too short: {answer}");
        // Readable: the words are English words from the corpus, not byte soup.
        Assert.True(KnownWordShare(answer) >= 0.9, $"not readable: {answer}");
        Assert.Matches(new Regex(topicWords, RegexOptions.IgnoreCase), answer);
    }

    [Theory]
    [InlineData("json", "^\\{\"topic\": \"[^\"]+\", \"answer\": \"[^\"]+\"\\}$")]
    [InlineData("pirate", "^Arr, matey! .+ Yo ho ho!$")]
    [InlineData("mood", "^mood: (positive|negative)$")]
    public async Task DemoAdapter_ShowsItsBehaviourOnHeldOutPrompts_TheBaseDoesNot(string adapter, string pattern)
    {
        var regex = new Regex(pattern, RegexOptions.Singleline);
        var heldOut = File.ReadLines(Path.Combine(RepositoryModels(), "data", $"{adapter}.heldout.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!).ToList();
        var withAdapter = await Task.WhenAll(heldOut.Select(p => AskAsync(adapter, p)));
        var withBase = await Task.WhenAll(heldOut.Select(p => AskAsync("base", p)));
        var adapterRate = withAdapter.Count(regex.IsMatch) / (double)heldOut.Count;
        var baseRate = withBase.Count(regex.IsMatch) / (double)heldOut.Count;
        // The same bar scripts/make-models holds the adapters to (models/EVAL.md has the rates it measured).
        Assert.True(adapterRate >= 0.7, $"{adapter}: {adapterRate:P0} match; {string.Join(" | ", withAdapter)}");
        Assert.True(baseRate == 0, $"base: {baseRate:P0} match; {string.Join(" | ", withBase)}");
    }

    private static string RepositoryModels()
    {
        var model = DefaultModelLocator.Find([AppContext.BaseDirectory], out _) ?? throw new InvalidOperationException("models/base.gguf not found above the test output");
        return Path.GetDirectoryName(model)!;
    }
}
