using System.Globalization;
using System.Net;
using System.Text;

namespace Serve.Server.Tests;

/// <summary>
/// Issue 16: the model-server protocol LoRA-aware Kubernetes routers read (vLLM's names): the metrics on /metrics
/// during a mixed-adapter load, and adapters loaded and unloaded through /v1/load_lora_adapter and
/// /v1/unload_lora_adapter, then served. States are reached by watching the engine, never by waiting a time.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ModelServerProtocolTests(ServerFixture fixture)
{
    [Fact]
    public async Task Metrics_DuringMixedAdapterLoad_ReportRunningAndWaitingAdaptersAndMaxLora()
    {
        var adapters = Path.Combine(fixture.Directory, "protocol-adapters-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(adapters);
        foreach (var name in ServerFixture.AdapterNames) File.Copy(fixture.Source(name), Path.Combine(adapters, name + ".gguf"));
        await using var server = await TestServer.StartAsync(fixture.ModelPath, adapters, new Dictionary<string, string?>
        {
            ["Serve:Engine:MaxSequences"] = "2",
            ["Serve:Engine:MaxLoadedAdapters"] = "4",
            ["Serve:Engine:MaxQueuedRequests"] = "16",
            // One client sends everything here: let it use every sequence and queue place.
            ["Serve:Engine:ClientRunningShare"] = "1",
            ["Serve:Engine:ClientQueueShare"] = "1",
            // Streams far longer than the test: it must not matter when they would have ended.
            ["Serve:Engine:ContextPerSequence"] = "8192",
            ["Serve:MaxCompletionTokens"] = "8000",
        });
        var engine = server.Engine;
        using var client = server.Client();
        using var cancel = new CancellationTokenSource();
        Task<HttpResponseMessage> Send(string model) => Task.Run(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
            {
                Content = new StringContent(Http.Chat(model, $"A long story for {model}.", 8000, ",\"stream\":true,\"ignore_eos\":true"), Encoding.UTF8, "application/json"),
            };
            return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        });

        // a and b take both sequences; c, d and a base request queue behind them. Each is seen by the engine before the next is sent.
        var streams = new List<Task<HttpResponseMessage>>();
        var expected = new (string Model, int Running, int Waiting)[] { ("a", 1, 0), ("b", 2, 0), ("c", 2, 1), ("base", 2, 2), ("d", 2, 3) };
        var deadline = DateTime.UtcNow.AddSeconds(120);
        foreach (var (model, running, waiting) in expected)
        {
            streams.Add(Send(model));
            while (!(engine.Status.Running == running && engine.Status.Waiting == waiting) && DateTime.UtcNow < deadline) await Task.Delay(5);
            Assert.True(engine.Status.Running == running && engine.Status.Waiting == waiting,
                $"after {model}: running {engine.Status.Running}, waiting {engine.Status.Waiting}");
        }

        using var scraper = server.Client();
        var text = await scraper.GetStringAsync("metrics");
        var baseName = fixture.BaseName;
        Assert.Equal(2, Sample(text, "vllm:num_requests_running", $"model_name=\"{baseName}\""));
        Assert.Equal(3, Sample(text, "vllm:num_requests_waiting", $"model_name=\"{baseName}\""));
        var kv = Sample(text, "vllm:kv_cache_usage_perc", $"model_name=\"{baseName}\"");
        Assert.InRange(kv, double.Epsilon, 1); // two running sequences hold their prompts and tokens
        Assert.Equal(kv, Sample(text, "vllm:gpu_cache_usage_perc", $"model_name=\"{baseName}\""));
        Assert.Contains("# TYPE vllm:lora_requests_info gauge", text);
        var info = Sample(text, "vllm:lora_requests_info", "max_lora=\"4\",running_lora_adapters=\"a,b\",waiting_lora_adapters=\"c,d\"");
        Assert.True(info > 1.7e9, $"lora_requests_info's value is the reading's Unix time, got {info}");
        // The engine's own meter has the KV gauge too, and prometheus-net's metrics are still there.
        Assert.Contains("serve_engine_kv_cache_usage", text);
        Assert.Contains("serve_engine_requests_running", text);

        await cancel.CancelAsync();
        foreach (var s in streams)
        {
            try { (await s).Dispose(); } catch (OperationCanceledException) { }
        }
    }

    [Fact]
    public async Task Metrics_Idle_ReportNoAdaptersAndMaxLora()
    {
        var text = await fixture.Server.Client().GetStringAsync("metrics");
        Assert.Equal(0, Sample(text, "vllm:num_requests_running", $"model_name=\"{fixture.BaseName}\""));
        Assert.Equal(0, Sample(text, "vllm:num_requests_waiting", $"model_name=\"{fixture.BaseName}\""));
        Sample(text, "vllm:lora_requests_info", $"max_lora=\"{fixture.Server.Engine.Options.MaxLoadedAdapters}\",running_lora_adapters=\"\",waiting_lora_adapters=\"\"");
    }

    [Fact]
    public async Task LoadLoraAdapter_ThenServe_ThenUnload_Then404()
    {
        using var admin = fixture.AdminClient();
        using var client = fixture.Client();
        var load = $$"""{"lora_name":"vllm-extra","lora_path":{{System.Text.Json.JsonSerializer.Serialize(fixture.Source("extra"))}}}""";

        var loaded = await admin.PostJsonAsync("v1/load_lora_adapter", load);
        Assert.Equal(HttpStatusCode.OK, loaded.StatusCode);
        Assert.Equal("Success: LoRA adapter 'vllm-extra' added successfully.", await loaded.Content.ReadAsStringAsync());
        Assert.True(fixture.Server.Engine.Adapters.Find("vllm-extra") is { IsLoaded: true });

        // Served like any adapter, with the API key, and listed.
        var chat = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("vllm-extra", "hello", 4))).JsonAsync();
        Assert.Equal("vllm-extra", chat.GetProperty("model").GetString());
        Assert.Contains("vllm-extra", await client.GetStringAsync("v1/models"));

        // vLLM refuses a name already loaded.
        var again = await (await admin.PostJsonAsync("v1/load_lora_adapter", load)).ErrorAsync(400);
        Assert.Equal("The lora adapter 'vllm-extra' has already been loaded.", again.GetProperty("message").GetString());

        var unloaded = await admin.PostJsonAsync("v1/unload_lora_adapter", """{"lora_name":"vllm-extra"}""");
        Assert.Equal(HttpStatusCode.OK, unloaded.StatusCode);
        Assert.Equal("Success: LoRA adapter 'vllm-extra' removed successfully.", await unloaded.Content.ReadAsStringAsync());

        var gone = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("vllm-extra", "hello", 4))).ErrorAsync(404);
        Assert.Equal("model_not_found", gone.GetProperty("code").GetString());
        var unknown = await (await admin.PostJsonAsync("v1/unload_lora_adapter", """{"lora_name":"vllm-extra"}""")).ErrorAsync(404);
        Assert.Equal("The lora adapter 'vllm-extra' cannot be found.", unknown.GetProperty("message").GetString());
    }

    [Fact]
    public async Task LoadLoraAdapter_NeedsTheAdminKey_AndAnImportDirectory()
    {
        var load = $$"""{"lora_name":"vllm-locked","lora_path":{{System.Text.Json.JsonSerializer.Serialize(fixture.Source("extra"))}}}""";
        using var user = fixture.Client(); // the API key is not the admin key
        Assert.Equal("invalid_api_key", (await (await user.PostJsonAsync("v1/load_lora_adapter", load)).ErrorAsync(401)).GetProperty("code").GetString());
        using var anonymous = fixture.Server.Client();
        Assert.Equal("missing_api_key", (await (await anonymous.PostJsonAsync("v1/unload_lora_adapter", """{"lora_name":"a"}""")).ErrorAsync(401)).GetProperty("code").GetString());

        using var admin = fixture.AdminClient();
        // Outside Serve:AdapterImportDirectories: the register-by-path lockdown applies here too.
        var outside = $$"""{"lora_name":"vllm-locked","lora_path":{{System.Text.Json.JsonSerializer.Serialize(fixture.ModelPath)}}}""";
        Assert.Equal("path_not_allowed", (await (await admin.PostJsonAsync("v1/load_lora_adapter", outside)).ErrorAsync(403)).GetProperty("code").GetString());
        var missing = await (await admin.PostJsonAsync("v1/load_lora_adapter", """{"lora_name":"vllm-locked"}""")).ErrorAsync(400);
        Assert.Equal("lora_path", missing.GetProperty("param").GetString());
        Assert.Null(fixture.Server.Engine.Adapters.Find("vllm-locked"));
    }

    /// <summary>The value of the one sample of name with exactly these labels (asserts there is one).</summary>
    private static double Sample(string text, string name, string labels)
    {
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(name + "{" + labels + "} ", StringComparison.Ordinal));
        Assert.True(line is not null, $"no sample {name}{{{labels}}} in:\n{string.Join('\n', text.Split('\n').Where(l => l.StartsWith("vllm:", StringComparison.Ordinal)))}");
        return double.Parse(line![(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }
}
