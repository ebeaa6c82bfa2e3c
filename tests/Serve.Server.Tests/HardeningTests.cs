using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>
/// Issue 17: what a hostile or careless client tried. Register-by-path is locked to configured directories and size
/// limited, errors never echo file content, bad input is a 400 (also when Kestrel refuses it), names are exact,
/// starts clean up after crashes, and oversized grammars, schemas and prompts are refused before any work.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class HardeningTests(ServerFixture fixture)
{
    private static string Register(string name, string path) => JsonSerializer.Serialize(new { name, path });

    [Fact]
    public async Task RegisterByPath_IsOffByDefault()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null);
        using var admin = server.Client();
        foreach (var path in new[] { fixture.Source("extra"), "/dev/zero", "/etc/shadow" })
        {
            var error = await (await admin.PostJsonAsync("admin/adapters", Register("z", path))).ErrorAsync(403);
            Assert.Equal("register_by_path_disabled", error.GetProperty("code").GetString());
        }
        Assert.Null(server.Engine.Adapters.Find("z"));
    }

    [Fact]
    public async Task RegisterByPath_OutsideTheAllowedDirectories_IsOne403WhetherOrNotTheFileExists()
    {
        var link = Path.Combine(fixture.Sources, "link-to-passwd.gguf");
        File.CreateSymbolicLink(link, "/etc/passwd");
        try
        {
            using var admin = fixture.AdminClient();
            var bodies = new List<string>();
            foreach (var path in new[] { "/etc/passwd", "/etc/no-such-file", "/dev/zero", link, fixture.Sources + "/../adapters/a.gguf" })
            {
                using var response = await admin.PostJsonAsync("admin/adapters", Register("z", path));
                var error = await response.ErrorAsync(403);
                Assert.Equal("path_not_allowed", error.GetProperty("code").GetString());
                bodies.Add(await response.Content.ReadAsStringAsync());
            }
            Assert.Single(bodies.Distinct());
            await (await admin.GetAsync("admin/adapters/z")).ErrorAsync(404);
        }
        finally
        {
            File.Delete(link);
        }
    }

    [Fact]
    public async Task RegisterByPath_NeverEchoesFileContent()
    {
        var secret = Path.Combine(fixture.Sources, "secret.gguf");
        await File.WriteAllTextAsync(secret, "root:$y$j9T$secret-hash:19000:0:99999:7:::\n");
        try
        {
            using var admin = fixture.AdminClient();
            var error = await (await admin.PostJsonAsync("admin/adapters", Register("secret", secret))).ErrorAsync(400);
            var message = error.GetProperty("message").GetString()!;
            Assert.DoesNotContain("root", message);
            Assert.DoesNotContain("secret-hash", message);
            Assert.Equal("invalid_adapter", error.GetProperty("code").GetString());
        }
        finally
        {
            File.Delete(secret);
        }
    }

    [Fact]
    public async Task RegisterByPath_HasTheUploadSizeLimit_BeforeReadingAndWhileCopying()
    {
        var allowed = Path.Combine(fixture.Directory, "import-" + Guid.NewGuid().ToString("N"));
        var adapters = Path.Combine(fixture.Directory, "adapters-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(allowed);
        await using var server = await TestServer.StartAsync(fixture.ModelPath, adapters, new Dictionary<string, string?>
        {
            ["Serve:AdapterImportDirectories:0"] = allowed,
            ["Serve:MaxAdapterUploadBytes"] = "65536",
        });
        using var admin = server.Client();

        // Known too large from its length: refused before a byte is read.
        var big = Path.Combine(allowed, "big.gguf");
        await File.WriteAllBytesAsync(big, new byte[100_000]);
        Assert.Equal("adapter_too_large", (await (await admin.PostJsonAsync("admin/adapters", Register("big", big))).ErrorAsync(413)).GetProperty("code").GetString());
        // An upload over the limit is refused by Kestrel from its Content-Length: /admin's limit is this one, not the JSON APIs'.
        using var upload = new HttpRequestMessage(HttpMethod.Put, "admin/adapters/big") { Content = new ByteArrayContent(new byte[100_000]) };
        upload.Headers.ExpectContinue = true;
        await (await admin.SendAsync(upload)).ErrorAsync(413);

        // A source whose length says nothing (a FIFO fed without end, like /dev/zero): the copy stops at the limit.
        var fifo = Path.Combine(allowed, "endless.gguf");
        using (var mkfifo = Process.Start("mkfifo", fifo)) await mkfifo.WaitForExitAsync();
        var fed = 0L;
        var feeder = Task.Run(() =>
        {
            try
            {
                using var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write);
                var chunk = new byte[8192];
                while (fed < 64L << 20)
                {
                    writer.Write(chunk);
                    fed += chunk.Length;
                }
            }
            catch (IOException)
            {
                // The server closed its end at the limit.
            }
        });
        var error = await (await admin.PostJsonAsync("admin/adapters", Register("endless", fifo))).ErrorAsync(413);
        Assert.Equal("adapter_too_large", error.GetProperty("code").GetString());
        await feeder;
        Assert.True(fed < 64L << 20, $"the server read on after the limit: {fed} bytes fed");
        Assert.Empty(Directory.EnumerateFileSystemEntries(adapters));
    }

    [Fact]
    public async Task RegisterByPath_StopsCopyingWhenTheClientLeaves()
    {
        var allowed = Path.Combine(fixture.Directory, "import-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(allowed);
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?>
        {
            ["Serve:AdapterImportDirectories:0"] = allowed,
        });
        var fifo = Path.Combine(allowed, "endless.gguf");
        using (var mkfifo = Process.Start("mkfifo", fifo)) await mkfifo.WaitForExitAsync();
        const long cap = 4L << 30; // beyond the 1 GiB upload limit: only the client leaving ends the copy below 1 GiB
        var fed = 0L;
        var started = new TaskCompletionSource();
        var feeder = Task.Run(() =>
        {
            try
            {
                using var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write);
                var chunk = new byte[8192];
                while (fed < cap)
                {
                    writer.Write(chunk);
                    fed += chunk.Length;
                    if (fed >= 1 << 20) started.TrySetResult();
                }
                return "cap";
            }
            catch (IOException)
            {
                return "closed"; // the server stopped reading and closed the FIFO
            }
        });
        using var cancel = new CancellationTokenSource();
        using var admin = server.Client();
        var request = admin.PostJsonAsync("admin/adapters", Register("endless", fifo), cancel.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60)); // the copy is under way: a megabyte went in
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        Assert.Equal("closed", await feeder.WaitAsync(TimeSpan.FromSeconds(120)));
        Assert.True(fed < 1L << 30, $"{fed} bytes were copied after the client left");
        Assert.Null(server.Engine.Adapters.Find("endless"));
    }

    [Fact]
    public async Task AdapterName_EndingInANewline_IsRefused()
    {
        using var admin = fixture.AdminClient();
        var content = new ByteArrayContent(await File.ReadAllBytesAsync(fixture.Source("upload")));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var error = await (await admin.PutAsync("admin/adapters/nl%0A", content)).ErrorAsync(400);
        Assert.Equal("invalid_adapter", error.GetProperty("code").GetString());
        Assert.DoesNotContain(Directory.EnumerateFiles(fixture.AdaptersDirectory), f => f.Contains('\n'));
        Assert.DoesNotContain(fixture.Server.Engine.Adapters.List(), a => a.Name.StartsWith("nl", StringComparison.Ordinal));
        Assert.False(Serve.Engine.Adapters.AdapterCatalog.IsValidName("nl\n"));
        Assert.False(Serve.Engine.Adapters.AdapterCatalog.IsValidName("a\tb"));
        Assert.True(Serve.Engine.Adapters.AdapterCatalog.IsValidName("nl"));
    }

    [Fact]
    public async Task LoneSurrogate_Is400()
    {
        using var client = fixture.Client();
        var body = "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"hi \\ud800 there\"}],\"max_tokens\":2}";
        var error = await (await client.PostJsonAsync("v1/chat/completions", body)).ErrorAsync(400);
        Assert.Equal("invalid_json", error.GetProperty("code").GetString());
        var completion = "{\"model\":\"base\",\"prompt\":\"\\udfff\",\"max_tokens\":2}";
        await (await client.PostJsonAsync("v1/completions", completion)).ErrorAsync(400);
        // A proper pair is fine.
        await (await client.PostJsonAsync("v1/chat/completions", "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83d\\ude00\"}],\"max_tokens\":2}")).JsonAsync();
    }

    [Theory]
    [InlineData("this is not a multipart body at all and it never has a boundary line")]
    [InlineData("--XYZ\r\nthis header line has no colon\r\n\r\nbody\r\n--XYZ--\r\n")]
    [InlineData("--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.gguf\"\r\n\r\nGGUF and then the stream simply ends")]
    public async Task MalformedMultipart_Is400(string body)
    {
        using var admin = fixture.AdminClient();
        var content = new ByteArrayContent(Encoding.ASCII.GetBytes(body));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=XYZ");
        var error = await (await admin.PostAsync("admin/adapters", content)).ErrorAsync(400);
        Assert.Equal("file", error.GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("PUT /admin/adapters/x%00 HTTP/1.1", 400)]
    [InlineData("GET /v1/models/%00 HTTP/1.1", 400)]
    [InlineData("LONG", 414)]
    [InlineData("GET /v1/models HTTP/1.1\r\nX-Big: BIGHEADER", 431)]
    public async Task KestrelRejections_HaveOpenAiShapedBodies(string requestLine, int status)
    {
        if (requestLine == "LONG") requestLine = $"PUT /admin/adapters/{new string('n', 20_000)} HTTP/1.1";
        requestLine = requestLine.Replace("BIGHEADER", new string('h', 40_000), StringComparison.Ordinal);
        var raw = await SendRawAsync(fixture.Server.Address, requestLine + "\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
        var split = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(split > 0, raw);
        var head = raw[..split];
        Assert.StartsWith($"HTTP/1.1 {status} ", head);
        Assert.Contains("Content-Type: application/json", head);
        using var doc = JsonDocument.Parse(raw[(split + 4)..]);
        var error = doc.RootElement.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("code").ValueKind);
        // And the server still answers.
        using var client = fixture.Client();
        await (await client.GetAsync("v1/models")).JsonAsync();
    }

    [Fact]
    public async Task Startup_RemovesStaleTempFiles_AndKeepsFreshOnes()
    {
        var adapters = Path.Combine(fixture.Directory, "crashed-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(adapters);
        File.Copy(fixture.Source("a"), Path.Combine(adapters, "a.gguf"));
        var stale = new[] { $".big.{Guid.NewGuid():N}.tmp", "a.gguf.swap" }.Select(n => Path.Combine(adapters, n)).ToList();
        foreach (var path in stale)
        {
            await File.WriteAllBytesAsync(path, new byte[4096]);
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1));
        }
        var fresh = Path.Combine(adapters, $".other.{Guid.NewGuid():N}.tmp"); // another process may be writing it now
        await File.WriteAllBytesAsync(fresh, new byte[16]);
        var unrelated = Path.Combine(adapters, "notes.txt.tmp");
        await File.WriteAllBytesAsync(unrelated, new byte[16]);
        File.SetLastWriteTimeUtc(unrelated, DateTime.UtcNow.AddHours(-1));

        await using var server = await TestServer.StartAsync(fixture.ModelPath, adapters);
        Assert.All(stale, path => Assert.False(File.Exists(path), path));
        Assert.True(File.Exists(fresh));
        Assert.True(File.Exists(unrelated));
        Assert.True(File.Exists(Path.Combine(adapters, "a.gguf")));
        Assert.Single(server.Engine.Adapters.List());
    }

    [Fact]
    public async Task OversizedGrammarSchemaAndPrompt_AreRefusedBeforeAnyWork()
    {
        using var client = fixture.Client();
        var alternatives = string.Join(" | ", Enumerable.Range(0, 5000).Select(i => $"\"w{i}\""));
        var grammar = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 4, $",\"grammar\":{JsonSerializer.Serialize("root ::= " + alternatives)}"))).ErrorAsync(400);
        Assert.Equal("grammar_too_large", grammar.GetProperty("code").GetString());

        var values = JsonSerializer.Serialize(Enumerable.Range(0, 2000).Select(i => $"v{i}"));
        var format = $",\"response_format\":{{\"type\":\"json_schema\",\"json_schema\":{{\"name\":\"e\",\"schema\":{{\"type\":\"string\",\"enum\":{values}}}}}}}";
        var schema = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 4, format))).ErrorAsync(400);
        Assert.Equal("schema_too_large", schema.GetProperty("code").GetString());
        Assert.Equal("response_format.json_schema.schema", schema.GetProperty("param").GetString());

        var few = JsonSerializer.Serialize(Enumerable.Range(0, 600).Select(i => $"v{i}"));
        var enumFormat = $",\"response_format\":{{\"type\":\"json_schema\",\"json_schema\":{{\"name\":\"e\",\"schema\":{{\"type\":\"object\",\"properties\":{{\"a\":{{\"enum\":{few}}}}}}}}}}}";
        var enums = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 4, enumFormat))).ErrorAsync(400);
        Assert.Contains("enum", enums.GetProperty("message").GetString());

        // A prompt longer in bytes than any that fits the context: refused from its byte length, without tokenizing
        // (the message counts bytes, not tokens).
        var bytes = (int)fixture.Server.Engine.MaxPromptBytes + 1000;
        var prompt = await (await client.PostJsonAsync("v1/completions", $"{{\"model\":\"base\",\"prompt\":{JsonSerializer.Serialize(new string('x', bytes))},\"max_tokens\":2}}")).ErrorAsync(400);
        Assert.Equal("context_length_exceeded", prompt.GetProperty("code").GetString());
        Assert.Contains($"{bytes} bytes", prompt.GetProperty("message").GetString());

        // 1.5 MB: no request that fits the context is that large, so Kestrel refuses it from Content-Length, unread.
        // (Expect: 100-continue, so the client waits for the verdict instead of writing into a closed connection.)
        using var hugeRequest = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = new StringContent($"{{\"model\":\"base\",\"prompt\":{JsonSerializer.Serialize(new string('x', 1_500_000))},\"max_tokens\":2}}", Encoding.UTF8, "application/json"),
        };
        hugeRequest.Headers.ExpectContinue = true;
        var huge = await (await client.SendAsync(hugeRequest)).ErrorAsync(413);
        Assert.Equal("request_too_large", huge.GetProperty("code").GetString());

        // Within the limits, a grammar still works.
        await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 4, ",\"grammar\":\"root ::= \\\"yes\\\" | \\\"no\\\"\""))).JsonAsync();
    }

    /// <summary>Sends raw bytes (what HttpClient refuses to send) and reads the reply until the server closes.</summary>
    private static async Task<string> SendRawAsync(Uri address, string request)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(address.Host, address.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reply = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30))) > 0) reply.Write(buffer, 0, n);
        }
        catch (IOException)
        {
            // Reset after the reply (Kestrel closes while unread request bytes remain).
        }
        return Encoding.ASCII.GetString(reply.ToArray());
    }
}
