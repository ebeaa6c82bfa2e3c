using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>A request for adapter A is computed only with A: concurrent mixed traffic returns exactly the lone results.</summary>
[Collection(ServerCollection.Name)]
public sealed class IsolationTests(ServerFixture fixture)
{
    private static readonly string[] Models = ["base", "a", "b", "c", "d"];
    private static readonly string[] Prompts = ["Tell me about the market.", "Write a letter to a friend.", "What season is it?"];

    [Fact]
    public async Task ThirtyTwoConcurrentGreedyRequests_OverFourAdaptersAndTheBase_MatchTheirLoneResults()
    {
        using var client = fixture.Client();
        var alone = new Dictionary<(string, string), string>();
        foreach (var model in Models)
        {
            foreach (var prompt in Prompts) alone[(model, prompt)] = await TextAsync(client, model, prompt);
        }
        // Different adapters really give different text, or the comparison below would prove nothing.
        Assert.Equal(Models.Length, Models.Select(m => alone[(m, Prompts[0])]).Distinct().Count());

        var requests = Enumerable.Range(0, 32).Select(i => (Model: Models[i % Models.Length], Prompt: Prompts[i / Models.Length % Prompts.Length])).ToList();
        var results = await Task.WhenAll(requests.Select(r => TextAsync(client, r.Model, r.Prompt)));

        for (var i = 0; i < requests.Count; i++)
            Assert.True(alone[requests[i]] == results[i], $"request {i} ({requests[i].Model}) differs under concurrency");
    }

    [Fact]
    public async Task AdaptersExtension_MixesScales_Deterministically()
    {
        using var client = fixture.Client();
        const string mix = ",\"adapters\":[{\"name\":\"a\",\"scale\":0.5},{\"name\":\"b\",\"scale\":0.5}]";
        var first = await TextAsync(client, "base", Prompts[0], mix);
        var second = await TextAsync(client, "base", Prompts[0], mix);
        Assert.Equal(first, second);
        Assert.NotEqual(await TextAsync(client, "a", Prompts[0]), first);
        // Scale 1 through the extension is the same as naming the adapter.
        Assert.Equal(await TextAsync(client, "a", Prompts[0]), await TextAsync(client, "base", Prompts[0], ",\"adapters\":[{\"name\":\"a\"}]"));
    }

    private static async Task<string> TextAsync(HttpClient client, string model, string prompt, string extra = "")
    {
        using var response = await client.PostJsonAsync("v1/chat/completions", Http.Chat(model, prompt, 12, ",\"ignore_eos\":true" + extra));
        var json = await response.JsonAsync();
        return json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
    }
}
