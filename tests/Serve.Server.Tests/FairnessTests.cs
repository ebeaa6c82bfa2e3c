using System.Net;
using System.Net.Http.Headers;

namespace Serve.Server.Tests;

/// <summary>
/// Issue 17, "one client stalls everyone": a client with many long streams holds at most its share of sequences and
/// queue places, and another client's request starts at once and finishes while the noisy ones still run. Counted in
/// scheduler steps, never in time.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class FairnessTests(ServerFixture fixture)
{
    [Fact]
    public async Task NoisyClient_HoldsItsShare_AndAVictimIsServedAtOnce()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?>
        {
            ["Serve:ApiKeys:0"] = "noisy-key",
            ["Serve:ApiKeys:1"] = "victim-key",
            ["Serve:Engine:MaxSequences"] = "4",
            ["Serve:Engine:MaxQueuedRequests"] = "16",
            // Noisy streams far longer than the test: it must not matter when they would have ended.
            ["Serve:Engine:ContextPerSequence"] = "8192",
            ["Serve:MaxCompletionTokens"] = "8000",
        });
        var engine = server.Engine;
        using var noisy = server.Client("noisy-key");
        using var cancel = new CancellationTokenSource();
        // Ten long streams, one after another (each seen by the engine before the next is sent): two run (half of 4
        // sequences), four wait (a quarter of 16 places), four are refused at once.
        Task<HttpResponseMessage> Send(int i) => Task.Run(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
            {
                Content = new StringContent(Http.Chat("base", $"Tell me a long story number {i}.", 8000, ",\"stream\":true,\"ignore_eos\":true"), System.Text.Encoding.UTF8, "application/json"),
            };
            return await noisy.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        });
        var streams = new List<Task<HttpResponseMessage>>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        for (var i = 0; i < 10; i++)
        {
            var stream = Send(i);
            streams.Add(stream);
            var accepted = Math.Min(i + 1, 6);
            while (!(engine.Status.Running + engine.Status.Waiting == accepted && (i < 6 || stream.IsCompleted)) && DateTime.UtcNow < deadline)
                await Task.Delay(5);
        }
        var refused = streams.Where(t => t.IsCompleted && t.Result.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.Equal(4, refused.Count);
        Assert.Equal("engine_overloaded", (await refused[0].Result.ErrorAsync(503)).GetProperty("code").GetString());
        Assert.Equal(2, engine.Status.Running);
        Assert.Equal(4, engine.Status.Waiting);

        // The victim's short request runs beside the noisy ones: its 8 tokens plus the HTTP round trip (the noisy
        // streams step on meanwhile) take far fewer steps than the ~8000 a noisy stream needs to free its sequence.
        using var victim = server.Client("victim-key");
        var before = engine.Status.Steps;
        await (await victim.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 8, ",\"ignore_eos\":true"))).JsonAsync();
        var steps = engine.Status.Steps - before;
        // Half a noisy stream: on the old first-in first-out queue the victim waited for a whole one to end.
        Assert.True(steps < 4000, $"the victim's 8 tokens took {steps} scheduler steps");
        Assert.Equal(2, engine.Status.Running); // the noisy streams are still going, at their share
        Assert.True(engine.Status.Waiting >= 3);

        await cancel.CancelAsync();
        foreach (var s in streams)
        {
            try { (await s).Dispose(); } catch (OperationCanceledException) { }
        }
    }
}

/// <summary>A stream whose client stops reading is ended after Serve:StreamStallTimeout and its sequence freed.</summary>
[Collection(ServerCollection.Name)]
public sealed class StalledStreamTests(ServerFixture fixture)
{
    [Fact]
    public async Task StreamWhoseClientStopsReading_IsEnded_AndItsSequenceFreed()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?>
        {
            ["Serve:StreamStallTimeout"] = "00:00:01",
            // Room for far more tokens than loopback's socket buffers (megabytes) and Kestrel's hold before the stall
            // clock starts: the stream must be cut by the timeout, not by its length, however fast decoding is.
            ["Serve:Engine:MaxSequences"] = "1",
            ["Serve:Engine:ContextPerSequence"] = "16384",
            ["Serve:MaxCompletionTokens"] = "16000",
        });
        var engine = server.Engine;
        var stalledBefore = await StalledCountAsync(server);
        // Large events (20 alternatives per token) and a small receive buffer: the socket and Kestrel's buffers fill
        // long before the 16000 tokens, and the client never reads a byte.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
        {
            ReceiveBufferSize = 4096,
        };
        await socket.ConnectAsync(server.Address.Host, server.Address.Port);
        var body = Http.Chat("base", "Tell me everything.", 16000, ",\"stream\":true,\"ignore_eos\":true,\"logprobs\":true,\"top_logprobs\":20");
        var request = $"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {System.Text.Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";
        await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(request));

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (engine.Status.Running == 0 && engine.Status.GeneratedTokens == 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        while (engine.Status.Running > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, engine.Status.Running);
        Assert.True(engine.Status.GeneratedTokens < 16000, $"the stalled stream ran to its end ({engine.Status.GeneratedTokens} tokens)");
        Assert.Equal(stalledBefore + 1, await StalledCountAsync(server));
    }

    private static async Task<double> StalledCountAsync(TestServer server)
    {
        using var client = server.Client();
        var text = await client.GetStringAsync("metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("serve_streams_stalled_total ", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
