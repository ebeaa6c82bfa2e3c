using System.ClientModel;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using ChatResponseFormat = OpenAI.Chat.ChatResponseFormat;

namespace Serve.Server.Tests;

/// <summary>The official OpenAI .NET SDK (and Microsoft.Extensions.AI over it) against the real server, unchanged.</summary>
[Collection(ServerCollection.Name)]
public sealed class OpenAiSdkTests(ServerFixture fixture)
{
    private OpenAIClientOptions Options => new() { Endpoint = new Uri(fixture.Server.Address, "v1") };

    private ChatClient Chat(string model, string key = ServerFixture.ApiKey) => new(model, new ApiKeyCredential(key), Options);

    private static ChatCompletionOptions Greedy(int maxTokens) => new() { MaxOutputTokenCount = maxTokens, Temperature = 0f };

    private static List<OpenAI.Chat.ChatMessage> Messages(string user) => [new SystemChatMessage("You are a careful assistant."), new UserChatMessage(user)];

    [Fact]
    public async Task CompleteChat_Base_ReturnsTextFinishReasonAndUsage()
    {
        ChatCompletion completion = await Chat(fixture.BaseName).CompleteChatAsync(Messages("Tell me about the market."), Greedy(12));

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.NotEmpty(completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(12, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.Equal(completion.Usage.InputTokenCount + 12, completion.Usage.TotalTokenCount);
        Assert.Equal(fixture.BaseName, completion.Model);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.StartsWith("fp_", completion.SystemFingerprint);
    }

    [Fact]
    public async Task CompleteChatStreaming_GivesTheSameTextAsWholeAndUsage()
    {
        var client = Chat("base");
        ChatCompletion whole = await client.CompleteChatAsync(Messages("Write about the seasons."), Greedy(16));

        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        var updates = 0;
        await foreach (var update in client.CompleteChatStreamingAsync(Messages("Write about the seasons."), Greedy(16)))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.True(updates >= 3);
        Assert.NotNull(usage); // the SDK asks for stream_options.include_usage
        Assert.Equal(16, usage.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
    }

    [Fact]
    public async Task CompleteChat_AdapterModel_ChangesTheOutputAndEchoesTheModel()
    {
        ChatCompletion base1 = await Chat("base").CompleteChatAsync(Messages("Tell me a story."), Greedy(16));
        ChatCompletion adapted = await Chat("a").CompleteChatAsync(Messages("Tell me a story."), Greedy(16));
        ChatCompletion other = await Chat("b").CompleteChatAsync(Messages("Tell me a story."), Greedy(16));

        Assert.Equal("a", adapted.Model);
        Assert.NotEqual(base1.Content[0].Text, adapted.Content[0].Text);
        Assert.NotEqual(adapted.Content[0].Text, other.Content[0].Text);
    }

    [Fact]
    public async Task CompleteChat_UnknownModel_Is404ModelNotFound()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Chat("no-such-adapter").CompleteChatAsync(Messages("hi"), Greedy(4)));
        Assert.Equal(404, e.Status);
        Assert.Contains("model_not_found", e.Message);
    }

    [Fact]
    public async Task CompleteChat_WrongKey_Is401()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Chat("base", "wrong").CompleteChatAsync(Messages("hi"), Greedy(4)));
        Assert.Equal(401, e.Status);
    }

    [Fact]
    public async Task CompleteChat_JsonSchema_ReturnsJsonValidForTheSchema()
    {
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = 200,
            Temperature = 0.7f,
            Seed = 3,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("verdict", BinaryData.FromString(
                """{"type":"object","properties":{"answer":{"enum":["yes","no"]},"sure":{"type":"boolean"}},"required":["answer","sure"],"additionalProperties":false}"""),
                jsonSchemaIsStrict: true),
        };
        ChatCompletion completion = await Chat("a").CompleteChatAsync(Messages("Is it raining?"), options);

        using var json = JsonDocument.Parse(completion.Content[0].Text);
        Assert.Contains(json.RootElement.GetProperty("answer").GetString(), new[] { "yes", "no" });
        Assert.True(json.RootElement.GetProperty("sure").ValueKind is JsonValueKind.True or JsonValueKind.False);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
    }

    [Fact]
    public async Task CompleteChat_JsonObject_ReturnsAnObjectOrAPrefixOfOne()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 24, Temperature = 0f, ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() };
        ChatCompletion completion = await Chat("base").CompleteChatAsync(Messages("Reply in JSON."), options);
        var text = completion.Content[0].Text;
        Assert.StartsWith("{", text);
        if (completion.FinishReason == ChatFinishReason.Stop) JsonDocument.Parse(text).Dispose();
    }

    [Fact]
    public async Task CompleteChat_Logprobs_OnePerTokenWithAlternatives()
    {
        var options = Greedy(6);
        options.IncludeLogProbabilities = true;
        options.TopLogProbabilityCount = 3;
        ChatCompletion completion = await Chat("b").CompleteChatAsync(Messages("Hello there."), options);

        Assert.Equal(6, completion.ContentTokenLogProbabilities.Count);
        foreach (var token in completion.ContentTokenLogProbabilities)
        {
            Assert.True(token.LogProbability <= 0);
            Assert.Equal(3, token.TopLogProbabilities.Count);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(token.TopLogProbabilities.Max(t => t.LogProbability), token.LogProbability, 4);
        }
        // A token may hold part of a UTF-8 character: its bytes, joined, are the text.
        var bytes = completion.ContentTokenLogProbabilities.SelectMany(t => t.Utf8Bytes?.ToArray() ?? []).ToArray();
        Assert.Equal(completion.Content[0].Text, Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task CompleteChat_StopSequence_CutsBeforeIt()
    {
        ChatCompletion free = await Chat("c").CompleteChatAsync(Messages("Write a few words."), Greedy(24));
        var text = free.Content[0].Text;
        Assert.True(text.Length > 8, text);
        var stop = text.Substring(4, 3);
        var options = Greedy(24);
        options.StopSequences.Add(stop);
        ChatCompletion cut = await Chat("c").CompleteChatAsync(Messages("Write a few words."), options);
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], cut.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
    }

    [Fact]
    public async Task CompleteChat_Seed_ReproducesSampledText()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 1f, Seed = 1234 };
        ChatCompletion first = await Chat("d").CompleteChatAsync(Messages("Say something."), options);
        ChatCompletion second = await Chat("d").CompleteChatAsync(Messages("Say something."), options);
        Assert.Equal(first.Content[0].Text, second.Content[0].Text);
    }

    [Fact]
    public async Task GetModels_ListsTheBaseAndEveryAdapterWithTheBaseAsParent()
    {
        var client = new OpenAIModelClient(new ApiKeyCredential(ServerFixture.ApiKey), Options);
        OpenAIModelCollection models = await client.GetModelsAsync();
        var ids = models.Select(m => m.Id).ToList();

        Assert.Contains(fixture.BaseName, ids);
        foreach (var name in ServerFixture.AdapterNames) Assert.Contains(name, ids);
        Assert.All(models, m => Assert.Equal("serve", m.OwnedBy));

        OpenAIModel adapter = await client.GetModelAsync("a");
        Assert.Equal("a", adapter.Id);
        OpenAIModel alias = await client.GetModelAsync("base");
        Assert.Equal("base", alias.Id);
        var e = await Assert.ThrowsAsync<ClientResultException>(() => client.GetModelAsync("nope"));
        Assert.Equal(404, e.Status);
    }

    [Fact]
    public async Task IChatClient_GetResponseAndStreaming_Work()
    {
        IChatClient client = Chat("a").AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 10, Temperature = 0f };
        List<AiChatMessage> messages = [new(AiChatRole.System, "You are a careful assistant."), new(AiChatRole.User, "Tell me about letters.")];

        var response = await client.GetResponseAsync(messages, options);
        Assert.NotEmpty(response.Text);
        Assert.Equal(10, response.Usage?.OutputTokenCount);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, response.FinishReason);

        var streamed = new StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync(messages, options)) streamed.Append(update.Text);
        Assert.Equal(response.Text, streamed.ToString());
    }
}
