namespace Serve.Llama.Tests;

[Collection(LlamaModelCollection.Name)]
public sealed class AdapterTests(LlamaModelFixture fixture)
{
    private static readonly int[] Prompt = [1, 40, 41, 42, 43, 44, 45];

    private float[] Logits(LlamaContext context, params (LlamaLoraAdapter, float)[] adapters)
    {
        context.SetAdapters(adapters);
        context.Memory.Clear();
        return Decoding.PromptLogits(context, Prompt);
    }

    [Fact]
    public void SetAdapters_Adapter_ChangesLogits_AndScaleZeroRestoresBaseExactly()
    {
        using var a = LlamaLoraAdapter.Load(fixture.Model, fixture.AdapterA);
        using var context = fixture.CreateContext();
        var baseLogits = Logits(context);
        var withA = Logits(context, (a, 1f));
        Assert.True(Decoding.MaxAbsDiff(baseLogits, withA) > 1e-3f, "the adapter should move the logits");
        Assert.Equal(0f, Decoding.MaxAbsDiff(baseLogits, Logits(context, (a, 0f))));
        Assert.Equal(0f, Decoding.MaxAbsDiff(baseLogits, Logits(context)));
    }

    [Fact]
    public void SetAdapters_TwoAdapters_Compose()
    {
        using var a = LlamaLoraAdapter.Load(fixture.Model, fixture.AdapterA);
        using var b = LlamaLoraAdapter.Load(fixture.Model, fixture.AdapterB);
        // F32 KV cache and no flash attention: both round K/Q/V through F16 on the CPU, which puts a ~3e-4 noise
        // floor on any perturbed logits, larger than the small-scale deltas compared below.
        using var context = LlamaContext.Create(fixture.Model, new LlamaContextOptions
        {
            ContextSize = 256, Threads = 2, TypeK = Native.GgmlType.F32, TypeV = Native.GgmlType.F32,
            FlashAttention = Native.LlamaFlashAttnType.Disabled,
        });

        var onlyA = Logits(context, (a, 1f));
        Assert.Equal(0f, Decoding.MaxAbsDiff(onlyA, Logits(context, (a, 1f), (b, 0f))));

        var ab = Logits(context, (a, 0.7f), (b, 0.4f));
        var ba = Logits(context, (b, 0.4f), (a, 0.7f));
        Assert.True(Decoding.MaxAbsDiff(ab, ba) <= 1e-5f * Decoding.MaxAbs(ab));
        Assert.True(Decoding.MaxAbsDiff(ab, onlyA) > 1e-4f);

        // First order: at small scales the logit deltas of A and B add up.
        const float s = 0.01f;
        var baseLogits = Logits(context);
        var dA = Subtract(Logits(context, (a, s)), baseLogits);
        var dB = Subtract(Logits(context, (b, s)), baseLogits);
        var dAB = Subtract(Logits(context, (a, s), (b, s)), baseLogits);
        var sum = dA.Zip(dB, (x, y) => x + y).ToArray();
        var error = Decoding.MaxAbsDiff(dAB, sum);
        var magnitude = Decoding.MaxAbs(sum);
        Assert.True(magnitude > 0);
        Assert.True(error <= 0.02f * magnitude, $"non-additive part {error} vs delta {magnitude}");
    }

    [Fact]
    public async Task Load_AndFree_FromManyThreadsAtOnce_WhileAContextReservesItsGraph()
    {
        // llama.cpp keeps a model's adapters in one unsynchronized set: every init inserts, every free erases, and a
        // context's graph reserve (after a change of adapters) reads it. The binding serializes those, so loaders
        // on any threads and a decoding context never touch the set at once.
        using var a = LlamaLoraAdapter.Load(fixture.Model, fixture.AdapterA);
        using var context = fixture.CreateContext();
        var baseLogits = Logits(context);
        var withA = Logits(context, (a, 1f));
        var loaded = 0;
        var loaders = Task.Run(() => Parallel.For(0, 96, new ParallelOptions { MaxDegreeOfParallelism = 6 }, i =>
        {
            using var adapter = LlamaLoraAdapter.Load(fixture.Model, i % 2 == 0 ? fixture.AdapterA : fixture.AdapterB);
            Assert.Equal("lora", adapter.Metadata["adapter.type"]);
            Interlocked.Increment(ref loaded);
        }));
        var decodes = 0;
        while (!loaders.IsCompleted || decodes < 4)
        {
            // each change of the context's adapters makes its next decode re-reserve the graph
            Assert.Equal(0f, Decoding.MaxAbsDiff(withA, Logits(context, (a, 1f))));
            Assert.Equal(0f, Decoding.MaxAbsDiff(baseLogits, Logits(context)));
            decodes++;
        }
        await loaders;
        Assert.Equal(96, loaded);
    }

    [Fact]
    public void Metadata_MadeAdapter_HasLoraTypeAndAlpha()
    {
        using var a = LlamaLoraAdapter.Load(fixture.Model, fixture.AdapterA);
        Assert.Equal("adapter", a.Metadata["general.type"]);
        Assert.Equal("lora", a.Metadata["adapter.type"]);
        Assert.Equal(8f, float.Parse(a.Metadata["adapter.lora.alpha"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(a.AloraInvocationTokens);
    }

    [Theory]
    [InlineData(nameof(LlamaModelFixture.WrongShapes), "incorrect shape")]
    [InlineData(nameof(LlamaModelFixture.WrongArchitecture), "arch mismatch")]
    [InlineData(nameof(LlamaModelFixture.Truncated), "not within the file bounds")]
    public void Load_BadAdapter_RefusedWithNativeReason_AndModelStillDecodes(string which, string reason)
    {
        var path = (string)typeof(LlamaModelFixture).GetProperty(which)!.GetValue(fixture)!;
        using var context = fixture.CreateContext();
        var before = Decoding.PromptLogits(context, Prompt);

        var ex = Assert.Throws<LlamaException>(() => LlamaLoraAdapter.Load(fixture.Model, path));
        Assert.Contains("Failed to load LoRA adapter", ex.Message);
        Assert.Contains("llama_adapter_lora_init", ex.Message); // llama.cpp's own error line is attached
        Assert.Contains(reason, ex.Message);

        context.Memory.Clear();
        Assert.Equal(0f, Decoding.MaxAbsDiff(before, Decoding.PromptLogits(context, Prompt)));
    }

    [Fact]
    public void Dispose_AdapterWhileSet_ContextKeepsItAlive()
    {
        using var context = fixture.CreateContext();
        var a = LlamaLoraAdapter.Load(fixture.Model, fixture.AdapterA);
        var withA = Logits(context, (a, 1f));
        a.Dispose();
        context.Memory.Clear();
        Assert.Equal(0f, Decoding.MaxAbsDiff(withA, Decoding.PromptLogits(context, Prompt)));
        Assert.Throws<ObjectDisposedException>(() => context.SetAdapters([(a, 1f)]));
        context.SetAdapters([]);
    }

    [Fact]
    public void SetAdapters_AdapterOfOtherModel_Throws()
    {
        using var other = LlamaModel.Load(fixture.ModelPath);
        using var foreign = LlamaLoraAdapter.Load(other, fixture.AdapterA);
        using var context = fixture.CreateContext();
        Assert.Throws<ArgumentException>(() => context.SetAdapters([(foreign, 1f)]));
        Assert.Throws<ArgumentException>(() => context.SetAdapters([(foreign, float.NaN)]));
    }

    [Fact]
    public void Load_RefusedAdapter_ReleasesItsModelReference()
    {
        var model = LlamaModel.Load(fixture.ModelPath);
        for (var i = 0; i < 3; i++) Assert.Throws<LlamaException>(() => LlamaLoraAdapter.Load(model, fixture.WrongShapes));
        model.Dispose();
        Assert.True(model.Handle.IsClosed, "a failed load must not keep the native model alive");
    }

    [Fact]
    public void Dispose_AnyOrder_FreesNativeObjectsOnlyWhenUnused()
    {
        var model = LlamaModel.Load(fixture.ModelPath);
        var adapter = LlamaLoraAdapter.Load(model, fixture.AdapterA);
        var context = LlamaContext.Create(model, new LlamaContextOptions { ContextSize = 64, Threads = 2 });
        context.SetAdapters([(adapter, 1f)]);
        model.Dispose();
        adapter.Dispose();
        Assert.False(model.Handle.IsClosed);
        Assert.False(adapter.Handle.IsClosed);
        Assert.NotEmpty(Decoding.PromptLogits(context, Prompt));
        context.Dispose();
        Assert.True(adapter.Handle.IsClosed);
        Assert.True(model.Handle.IsClosed);
    }

    [Fact]
    public void Load_MissingAdapter_ThrowsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => LlamaLoraAdapter.Load(fixture.Model, "/nonexistent/adapter.gguf"));
    }

    private static float[] Subtract(float[] a, float[] b) => a.Zip(b, (x, y) => x - y).ToArray();
}
