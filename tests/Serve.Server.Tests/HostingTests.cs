using System.Net;
using Microsoft.Extensions.Options;
using Serve.Server.Hosting;

namespace Serve.Server.Tests;

/// <summary>Start-up and settings: the default model, open mode, rate and prompt limits. Each test starts its own server.</summary>
[Collection(ServerCollection.Name)]
public sealed class HostingTests(ServerFixture fixture)
{
    [Fact]
    public async Task NoApiKeysConfigured_V1IsOpen_AndAdminAnswersLoopback()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null);
        using var client = server.Client();
        var models = await (await client.GetAsync("v1/models")).JsonAsync();
        Assert.Equal(Path.GetFileNameWithoutExtension(fixture.ModelPath), models.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("admin/adapters")).StatusCode);
    }

    [Fact]
    public async Task ModelName_ServesTheBaseUnderThatName()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?> { ["Serve:Engine:ModelName"] = "tiny-llama" });
        using var client = server.Client();
        var models = await (await client.GetAsync("v1/models")).JsonAsync();
        Assert.Equal("tiny-llama", models.GetProperty("data")[0].GetProperty("id").GetString());
        await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("tiny-llama", "hi", 2))).JsonAsync();
    }

    [Fact]
    public async Task RequestsPerMinute_Exceeded_Is429WithRetryAfter()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?> { ["Serve:RequestsPerMinute"] = "2" });
        using var client = server.Client();
        await (await client.GetAsync("v1/models")).JsonAsync();
        await (await client.GetAsync("v1/models")).JsonAsync();
        using var third = await client.GetAsync("v1/models");
        Assert.Equal("rate_limit_exceeded", (await third.ErrorAsync(429)).GetProperty("code").GetString());
        Assert.NotNull(third.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("healthz/ready")).StatusCode); // probes are never limited
    }

    [Fact]
    public async Task MaxPromptTokens_Exceeded_Is400()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?> { ["Serve:MaxPromptTokens"] = "8", ["Serve:MaxCompletionTokens"] = "16" });
        using var client = server.Client();
        var error = await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":\"one two three four five six seven eight nine ten\"}")).ErrorAsync(400);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":\"hi\",\"max_tokens\":17}")).ErrorAsync(400);
        await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":\"hi\",\"max_tokens\":16}")).JsonAsync();
    }

    [Fact]
    public async Task MissingModel_FailsAtStartWithHowToMakeIt()
    {
        var app = ServeApplication.Build(["--urls", "http://127.0.0.1:0", "--model", Path.Combine(fixture.Directory, "missing.gguf")]);
        await using var _ = app;
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains("scripts/make-models", e.Message);
        Assert.Contains("missing.gguf", e.Message);
    }

    [Fact]
    public async Task UnknownEngineSetting_FailsAtStartNamingIt()
    {
        // AdapterBatching was removed (every adapter shares one decode now): a deployment still setting it, or a typo,
        // must not start as if it had been honoured.
        var app = ServeApplication.Build(["--urls", "http://127.0.0.1:0", "--model", fixture.ModelPath, "--Serve:Engine:AdapterBatching=Grouped"]);
        await using var _ = app;
        var e = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => app.StartAsync());
        Assert.Contains("AdapterBatching", e.Message);
    }

    [Fact]
    public void DefaultModelLocator_WalksUpToModelsBaseGguf()
    {
        var root = Path.Combine(fixture.Directory, "repo");
        var deep = Path.Combine(root, "src", "Serve.Server", "bin");
        Directory.CreateDirectory(deep);
        Assert.Null(DefaultModelLocator.Find([deep], out var looked));
        Assert.Contains(Path.Combine(root, "models", "base.gguf"), looked);

        Directory.CreateDirectory(Path.Combine(root, "models"));
        File.Copy(fixture.ModelPath, Path.Combine(root, "models", "base.gguf"));
        Assert.Equal(Path.Combine(root, "models", "base.gguf"), DefaultModelLocator.Find([deep], out _));
    }
}
