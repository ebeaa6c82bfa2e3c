using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>The admin API: register from a server path, a raw upload or multipart, load/unload/pin/remove, validation.</summary>
[Collection(ServerCollection.Name)]
public sealed class AdminApiTests(ServerFixture fixture)
{
    [Fact]
    public async Task List_ShowsVersionsOfEveryAdapter()
    {
        using var admin = fixture.AdminClient();
        var list = await (await admin.GetAsync("admin/adapters")).JsonAsync();
        Assert.Equal(fixture.BaseName, list.GetProperty("base_model").GetString());
        var a = list.GetProperty("data").EnumerateArray().Single(x => x.GetProperty("name").GetString() == "a");
        Assert.Equal(Serve.Gguf.GgufFile.Sha256(fixture.Source("a")), a.GetProperty("version").GetString());
        Assert.Equal(4, a.GetProperty("rank").GetInt32());
        Assert.Equal(8f, a.GetProperty("alpha").GetSingle());
        Assert.Equal("llama", a.GetProperty("architecture").GetString());
        Assert.True(a.GetProperty("size_bytes").GetInt64() > 0);
        Assert.Equal(0, a.GetProperty("active_sequences").GetInt32());
        Assert.True(a.TryGetProperty("loaded", out _));
        Assert.True(a.TryGetProperty("base_model_sha256", out _));
    }

    [Fact]
    public async Task RegisterFromServerPath_ThenServable_ThenRemoved()
    {
        using var admin = fixture.AdminClient();
        using var user = fixture.Client();
        var body = JsonSerializer.Serialize(new { name = "from-path", path = fixture.Source("extra") });
        var created = await (await admin.PostJsonAsync("admin/adapters", body)).JsonAsync(201);
        Assert.Equal("from-path", created.GetProperty("name").GetString());
        Assert.True(created.GetProperty("loaded").GetBoolean());

        var models = await (await user.GetAsync("v1/models")).JsonAsync();
        var card = models.GetProperty("data").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "from-path");
        Assert.Equal(fixture.BaseName, card.GetProperty("parent").GetString());
        await (await user.PostJsonAsync("v1/chat/completions", Http.Chat("from-path", "hi", 3))).JsonAsync();

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("admin/adapters/from-path")).StatusCode);
        await (await user.PostJsonAsync("v1/chat/completions", Http.Chat("from-path", "hi", 3))).ErrorAsync(404);
        Assert.Equal("adapter_not_found", (await (await admin.DeleteAsync("admin/adapters/from-path")).ErrorAsync(404)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task RegisterRawUpload_AndMultipartUpload_Work()
    {
        using var admin = fixture.AdminClient();
        var bytes = await File.ReadAllBytesAsync(fixture.Source("upload"));
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var raw = await (await admin.PutAsync("admin/adapters/raw-upload?load=false", content)).JsonAsync(201);
        Assert.Equal(Serve.Gguf.GgufFile.Sha256(fixture.Source("upload")), raw.GetProperty("version").GetString());
        Assert.False(raw.GetProperty("loaded").GetBoolean());

        using var form = new MultipartFormDataContent
        {
            { new StringContent("multi-upload"), "name" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(fixture.Source("multi"))), "file", "whatever.gguf" },
        };
        var multi = await (await admin.PostAsync("admin/adapters", form)).JsonAsync(201);
        Assert.Equal("multi-upload", multi.GetProperty("name").GetString());

        using var user = fixture.Client();
        await (await user.PostJsonAsync("v1/chat/completions", Http.Chat("raw-upload", "hi", 2))).JsonAsync();
        await (await user.PostJsonAsync("v1/chat/completions", Http.Chat("multi-upload", "hi", 2))).JsonAsync();
        await admin.DeleteAsync("admin/adapters/raw-upload");
        await admin.DeleteAsync("admin/adapters/multi-upload");
    }

    [Theory]
    [InlineData("wrong-shapes", "lora_a must be")]
    [InlineData("wrong-arch", "architecture")]
    public async Task Register_InvalidAdapter_Is400WithTheEnginesReason(string source, string reason)
    {
        using var admin = fixture.AdminClient();
        var body = JsonSerializer.Serialize(new { name = "bad-" + source, path = fixture.Source(source) });
        var error = await (await admin.PostJsonAsync("admin/adapters", body)).ErrorAsync(400);
        Assert.Contains(reason, error.GetProperty("message").GetString());
        Assert.Equal("invalid_adapter", error.GetProperty("code").GetString());
        await (await admin.GetAsync("admin/adapters/bad-" + source)).ErrorAsync(404);

        var content = new ByteArrayContent(Encoding.UTF8.GetBytes("definitely not gguf"));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        await (await admin.PutAsync("admin/adapters/garbage", content)).ErrorAsync(400);
        await (await admin.PostJsonAsync("admin/adapters", JsonSerializer.Serialize(new { name = "base", path = fixture.Source("extra") }))).ErrorAsync(400);
        // Outside the import directories: 403 (HardeningTests); inside, a missing file is a 400.
        await (await admin.PostJsonAsync("admin/adapters", JsonSerializer.Serialize(new { name = "x", path = "/no/such/file.gguf" }))).ErrorAsync(403);
        await (await admin.PostJsonAsync("admin/adapters", JsonSerializer.Serialize(new { name = "x", path = fixture.Source("no-such-file") }))).ErrorAsync(400);
        await (await admin.PostJsonAsync("admin/adapters", "{\"path\":\"x\"}")).ErrorAsync(400);
    }

    [Fact]
    public async Task LoadUnloadPin_ChangeTheState()
    {
        using var admin = fixture.AdminClient();
        var loaded = await (await admin.PostAsync("admin/adapters/d/load", null)).JsonAsync();
        Assert.True(loaded.GetProperty("loaded").GetBoolean());
        var pinned = await (await admin.PutAsync("admin/adapters/d/pin", null)).JsonAsync();
        Assert.True(pinned.GetProperty("pinned").GetBoolean());
        var unpinned = await (await admin.DeleteAsync("admin/adapters/d/pin")).JsonAsync();
        Assert.False(unpinned.GetProperty("pinned").GetBoolean());
        var unloaded = await (await admin.PostAsync("admin/adapters/d/unload", null)).JsonAsync();
        Assert.False(unloaded.GetProperty("loaded").GetBoolean());
        await (await admin.PostAsync("admin/adapters/d/unload?mode=sideways", null)).ErrorAsync(400);
        await (await admin.PostAsync("admin/adapters/ghost/load", null)).ErrorAsync(404);
        await (await admin.PutAsync("admin/adapters/ghost/pin", null)).ErrorAsync(404);

        // Unloaded adapters load again on their next use.
        using var user = fixture.Client();
        await (await user.PostJsonAsync("v1/chat/completions", Http.Chat("d", "hi", 2))).JsonAsync();
        var status = await (await admin.GetAsync("admin/status")).JsonAsync();
        Assert.True(status.GetProperty("ready").GetBoolean());
        Assert.True(status.GetProperty("loaded_adapters").GetInt32() >= 1);
        // KV use as the protocol's vllm:kv_cache_usage_perc reports it: a share of every sequence slot's positions.
        var capacity = status.GetProperty("kv_capacity_tokens").GetInt32();
        var perSequence = fixture.Server.Engine.Options.ContextPerSequence!.Value;
        Assert.True(capacity >= fixture.Server.Engine.Options.MaxSequences * perSequence && capacity % perSequence == 0, $"capacity {capacity}");
        Assert.InRange(status.GetProperty("kv_usage").GetDouble(), 0, 1);
    }

    [Fact]
    public async Task UnloadWithAbort_EndsARunningStreamWithAnSseError()
    {
        using var admin = fixture.AdminClient();
        using var user = fixture.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = new StringContent(Http.Chat("c", "A very long story", 450, ",\"stream\":true,\"ignore_eos\":true"), Encoding.UTF8, "application/json"),
        };
        using var response = await user.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync()); // the role chunk: the stream runs

        (await admin.PostAsync("admin/adapters/c/unload?mode=abort", null)).EnsureSuccessStatusCode();
        var rest = await reader.ReadToEndAsync();
        var events = Http.SseData(rest.TrimStart('\n'));
        var last = JsonDocument.Parse(events[^1]).RootElement;
        Assert.Equal("adapter_unloaded", last.GetProperty("error").GetProperty("code").GetString());
        Assert.DoesNotContain("[DONE]", events);
    }
}
