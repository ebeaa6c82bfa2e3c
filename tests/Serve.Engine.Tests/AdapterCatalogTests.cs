using Serve.Engine.Adapters;

namespace Serve.Engine.Tests;

[Collection(EngineCollection.Name)]
public sealed class AdapterCatalogTests(EngineFixture fixture)
{
    [Fact]
    public void Start_ListsEveryAdapterInTheDirectory_WithVersions()
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a", "b", "wrong-shapes")));
        var list = engine.Adapters.List();
        Assert.Equal(["a", "b"], list.Select(a => a.Name)); // the bad file is logged and skipped
        var a = list[0];
        Assert.Equal(64, a.Version.Length);
        Assert.Equal(4, a.Rank);
        Assert.Equal(8f, a.Alpha);
        Assert.Equal("llama", a.Architecture);
        Assert.Equal(engine.BaseModel.Sha256, a.BaseModelSha256);
        Assert.False(a.IsLoaded);
    }

    [Theory]
    [InlineData("wrong-shapes", "lora_a must be")]
    [InlineData("wrong-arch", "architecture 'qwen2'")]
    [InlineData("truncated", "Not a valid GGUF file")]
    public async Task Register_BadFile_IsRefusedWithTheReason(string file, string reason)
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var e = await Assert.ThrowsAsync<AdapterValidationException>(() => engine.Adapters.RegisterAsync("bad", Path.Combine(fixture.Sources, file + ".gguf")));
        Assert.Contains(reason, e.Message);
        Assert.Null(engine.Adapters.Find("bad"));
        Assert.False(File.Exists(Path.Combine(engine.Adapters.Directory, "bad.gguf")));
        // The engine carries on serving.
        var ok = await engine.CollectAsync(Generation.Chat("hi", "a", maxTokens: 2));
        Assert.Equal(2, ok.Completed.CompletionTokens);
    }

    [Fact]
    public async Task Register_BaseModelFile_IsRefused()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var e = await Assert.ThrowsAsync<AdapterValidationException>(() => engine.Adapters.RegisterAsync("x", fixture.ModelPath));
        Assert.Contains("general.type", e.Message);
        await Assert.ThrowsAsync<AdapterValidationException>(() => engine.Adapters.RegisterAsync("../escape", fixture.AdapterA));
        await Assert.ThrowsAsync<AdapterValidationException>(() => engine.Adapters.RegisterAsync("base", fixture.AdapterA));
    }

    [Fact]
    public async Task Register_Upload_ServesUnderTheNewName()
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a")));
        var reference = await engine.CollectAsync(Generation.Chat("hi there", "a", maxTokens: 8));
        await using (var upload = File.OpenRead(fixture.AdapterA))
        {
            var info = await engine.Adapters.RegisterAsync("uploaded", upload);
            Assert.True(info.IsLoaded);
            Assert.Equal(engine.Adapters.Find("a")!.Version, info.Version);
        }
        Assert.True(File.Exists(Path.Combine(engine.Adapters.Directory, "uploaded.gguf")));
        var viaUpload = await engine.CollectAsync(Generation.Chat("hi there", "uploaded", maxTokens: 8));
        Assert.Equal(reference.Text, viaUpload.Text);
    }

    [Fact]
    public async Task Republish_NewVersion_ServesNewRequests_WhileRunningOnesFinishOnTheOld()
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a")));
        var v1 = engine.Adapters.Find("a")!.Version;
        // Long enough that the test thread sees it running on a loaded machine (60 tokens ended unseen once).
        var expectedOld = (await engine.CollectAsync(Generation.Chat("story", "a", maxTokens: 400))).Text;
        var running = engine.CollectAsync(Generation.Chat("story", "a", maxTokens: 400));
        await BatchingTests.WaitUntil(() => engine.Status.Running == 1);

        var v2 = await engine.Adapters.RegisterAsync("a", fixture.AdapterA2);
        Assert.NotEqual(v1, v2.Version);
        var fresh = await engine.CollectAsync(Generation.Chat("story", "a", maxTokens: 8));
        Assert.Contains(v2.Version, fresh.Started.Adapters.Key);

        var old = await running;
        Assert.Contains(v1, old.Started.Adapters.Key);
        Assert.Equal(expectedOld, old.Text);
        Assert.NotEqual(expectedOld[..Math.Min(expectedOld.Length, fresh.Text.Length)], fresh.Text);
    }

    [Fact]
    public async Task Lru_EvictsIdleAdapters_ButNeverPinnedOnes()
    {
        var dir = fixture.AdapterDirectory("a", "b", "a2");
        using var engine = InferenceEngine.Start(fixture.Options(dir) with { MaxLoadedAdapters = 2 });
        engine.Adapters.SetPinned("a", true);
        foreach (var name in new[] { "a", "b", "a2", "b", "a2" })
            await engine.CollectAsync(Generation.Chat("hi", name, maxTokens: 1));
        Assert.True(engine.Adapters.Find("a")!.IsLoaded);
        Assert.Equal(2, engine.Adapters.List().Count(a => a.IsLoaded));
        Assert.Equal(2, engine.Status.LoadedAdapters);

        // Two adapters in use and one pinned: a request for the third waits instead of failing, then runs.
        engine.Adapters.SetPinned("a", false);
        var results = await Task.WhenAll(new[] { "a", "b", "a2", "a", "b", "a2" }.Select(n => engine.CollectAsync(Generation.Chat("hi", n, maxTokens: 4))));
        Assert.All(results, r => Assert.Equal(4, r.Completed.CompletionTokens));
    }

    [Fact]
    public async Task Unload_Drain_WaitsForRunningSequences()
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a")));
        // Long enough to be still running when this thread, woken late on a loaded machine, unloads (80 was not).
        var running = engine.CollectAsync(Generation.Chat("story", "a", maxTokens: 400));
        await BatchingTests.WaitUntil(() => engine.Status.Running == 1);
        var unload = engine.Adapters.UnloadAsync("a");
        Assert.False(unload.IsCompleted);
        var result = await running;
        Assert.Equal(400, result.Completed.CompletionTokens);
        await unload.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(engine.Adapters.Find("a")!.IsLoaded);
        // Still registered: the next request loads it again.
        var again = await engine.CollectAsync(Generation.Chat("hi", "a", maxTokens: 2));
        Assert.Equal(2, again.Completed.CompletionTokens);
    }

    [Fact]
    public async Task Remove_Abort_EndsRunningSequences_AndTheNameIsGone()
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a")));
        var running = engine.CollectAsync(Generation.Chat("story", "a", maxTokens: 400));
        await BatchingTests.WaitUntil(() => engine.Status.Running == 1);
        Assert.True(await engine.Adapters.RemoveAsync("a", AdapterUnloadMode.Abort).WaitAsync(TimeSpan.FromSeconds(10)));
        var e = await Assert.ThrowsAsync<AdapterUnloadedException>(() => running);
        Assert.Equal("a", e.Name);
        Assert.Null(engine.Adapters.Find("a"));
        Assert.False(File.Exists(Path.Combine(engine.Adapters.Directory, "a.gguf")));
        await Assert.ThrowsAsync<AdapterNotFoundException>(() => engine.CollectAsync(Generation.Chat("hi", "a")));
        Assert.False(await engine.Adapters.RemoveAsync("a"));
    }

    [Fact]
    public async Task Rescan_PicksUpFilesDroppedIntoTheDirectory()
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory()));
        var changes = new List<AdapterChange>();
        engine.Adapters.Changed += c => { lock (changes) changes.Add(c); };
        File.Copy(fixture.AdapterB, Path.Combine(engine.Adapters.Directory, "dropped.gguf"));
        engine.Adapters.Rescan();
        Assert.NotNull(engine.Adapters.Find("dropped"));
        Assert.Contains(changes, c => c is { Kind: AdapterChangeKind.Registered, Name: "dropped" });
        var result = await engine.CollectAsync(Generation.Chat("hi", "dropped", maxTokens: 2));
        Assert.Equal(2, result.Completed.CompletionTokens);
        File.Delete(Path.Combine(engine.Adapters.Directory, "dropped.gguf"));
        engine.Adapters.Rescan();
        Assert.Null(engine.Adapters.Find("dropped"));
    }

    [Fact]
    public async Task TwoAdaptersWithScales_Compose()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var both = Generation.Chat("Tell me about seasons.", maxTokens: 10) with { Adapters = [new("a", 1f), new("b", 1f)] };
        var a = await engine.CollectAsync(Generation.Chat("Tell me about seasons.", "a", maxTokens: 10));
        var b = await engine.CollectAsync(Generation.Chat("Tell me about seasons.", "b", maxTokens: 10));
        var ab = await engine.CollectAsync(both);
        var ba = await engine.CollectAsync(both with { Adapters = [new("b", 1f), new("a", 1f)] });
        Assert.Equal(ab.Text, ba.Text); // order does not matter
        Assert.Equal(ab.Started.Adapters, ba.Started.Adapters);
        Assert.NotEqual(a.Text, ab.Text);
        Assert.NotEqual(b.Text, ab.Text);
        var zero = await engine.CollectAsync(both with { Adapters = [new("a", 1f), new("b", 0f)] });
        Assert.Equal(a.Text, zero.Text); // scale 0 is the adapter switched off
    }
}
