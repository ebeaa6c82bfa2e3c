using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Serve.Llama.Graph;
using Serve.Llama.Native;

namespace Serve.Llama.Tests;

/// <summary>The cb_eval binding: what an observer sees of llama.cpp's graph, and that its changes reach the outputs.</summary>
[Collection(LlamaModelCollection.Name)]
public sealed unsafe class GraphObserverTests(LlamaModelFixture fixture)
{
    private LlamaContext Context(ILlamaGraphObserver? observer, bool persistentThreads = false) => LlamaContext.Create(fixture.Model, new LlamaContextOptions
    {
        ContextSize = 256, BatchSize = 256, UBatchSize = 256, Threads = 2, GraphObserver = observer, PersistentThreads = persistentThreads,
    });

    private int[] Prompt => fixture.Model.Vocab.Tokenize("The quick brown fox jumps over the lazy dog", true, false);

    [Fact]
    public void TensorLayout_MatchesGgml()
    {
        // sizeof(struct ggml_tensor) and offsetof of the fields read here, from ggml.h (GGML_TENSOR_SIZE = 336).
        Assert.Equal(336, Unsafe.SizeOf<GgmlTensorNative>());
        Assert.Equal(80, Marshal.OffsetOf<GgmlTensorNative>(nameof(GgmlTensorNative.Op)).ToInt32());
        Assert.Equal(152, Marshal.OffsetOf<GgmlTensorNative>(nameof(GgmlTensorNative.Src)).ToInt32());
        Assert.Equal(248, Marshal.OffsetOf<GgmlTensorNative>(nameof(GgmlTensorNative.Data)).ToInt32());
        Assert.Equal(256, Marshal.OffsetOf<GgmlTensorNative>(nameof(GgmlTensorNative.Name)).ToInt32());
        Assert.Equal(528, Unsafe.SizeOf<GgmlThreadpoolParams>());
    }

    private sealed class Recorder : ILlamaGraphObserver
    {
        public readonly List<(string Weight, long Rows, long Columns, long InputRows, long Elements, bool NameMatches, bool Host)> Products = [];

        public bool WantsResult(GgmlTensor node) => node.IsMatMul && node.Source(0).Name.StartsWith("blk.", StringComparison.Ordinal);

        public void OnComputed(GgmlTensor node)
        {
            var weight = node.Source(0);
            var nameMatches = NativeApi.PtrToString(NativeApi.ggml_get_name((GgmlTensorNative*)node.Address)) == node.Name;
            Products.Add((weight.Name, node.Elements(0), node.Elements(1), node.Source(1).Elements(0), node.ElementCount, nameMatches, node.IsHostMemory));
        }
    }

    [Fact]
    public void Observer_SeesEveryLayersProducts_WithTheirWeightsAndShapes()
    {
        var recorder = new Recorder();
        using var context = Context(recorder);
        Assert.Same(recorder, context.GraphObserver);
        var prompt = Prompt;
        Decoding.PromptLogits(context, prompt);

        var model = fixture.Model;
        var q = recorder.Products.Where(p => p.Weight.EndsWith(".attn_q.weight", StringComparison.Ordinal)).ToList();
        Assert.Equal(model.LayerCount, q.Count);
        Assert.All(q, p =>
        {
            Assert.Equal(model.EmbeddingLength, p.Rows);
            Assert.Equal(prompt.Length, p.Columns); // one column per batch token
            Assert.Equal(model.EmbeddingLength, p.InputRows);
            Assert.Equal(p.Rows * p.Columns, p.Elements);
            Assert.True(p.NameMatches);
            Assert.True(p.Host);
        });
        // The last layer's feed-forward only runs for the tokens that want logits (one here).
        var down = recorder.Products.Where(p => p.Weight.EndsWith(".ffn_down.weight", StringComparison.Ordinal)).ToList();
        Assert.Equal(model.LayerCount, down.Count);
        Assert.Equal(1, down[^1].Columns);
        Assert.Equal(prompt.Length, down[0].Columns);
    }

    private sealed class AddToLogits(float amount) : ILlamaGraphObserver
    {
        public bool WantsResult(GgmlTensor node) => node.Name == "result_output";

        public void OnComputed(GgmlTensor node)
        {
            Assert.Equal(GgmlType.F32, node.Type);
            var data = new Span<float>(node.HostData, checked((int)node.ElementCount));
            foreach (ref var x in data) x += amount;
        }
    }

    [Fact]
    public void ChangesMadeByTheObserver_AreWhatLaterNodesAndTheOutputsSee()
    {
        float[] plain;
        using (var context = Context(null)) plain = Decoding.PromptLogits(context, Prompt);
        using var changed = Context(new AddToLogits(1.5f));
        var shifted = Decoding.PromptLogits(changed, Prompt);
        Assert.Equal(plain.Length, shifted.Length);
        for (var i = 0; i < plain.Length; i++) Assert.Equal(plain[i] + 1.5f, shifted[i], 1e-4f);
    }

    private sealed class Failing : ILlamaGraphObserver
    {
        public bool Fail = true;
        public bool WantsResult(GgmlTensor node) => node.IsMatMul;
        public void OnComputed(GgmlTensor node)
        {
            if (Fail) throw new InvalidOperationException("observer broke");
        }
    }

    [Fact]
    public void ObserverException_FailsThatDecode_AndTheContextStaysUsable()
    {
        var observer = new Failing();
        using var context = Context(observer);
        var error = Assert.Throws<LlamaException>(() => Decoding.PromptLogits(context, Prompt));
        Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Contains("observer broke", error.Message);

        observer.Fail = false;
        context.Memory.Clear();
        var logits = Decoding.PromptLogits(context, Prompt);
        float[] plain;
        using (var reference = Context(null)) plain = Decoding.PromptLogits(reference, Prompt);
        Assert.True(Decoding.MaxAbsDiff(plain, logits) < 1e-4f);
    }

    [Fact]
    public void PersistentThreads_SameLogits_AndPauseIsHarmless()
    {
        float[] plain;
        using (var context = Context(null)) plain = Decoding.PromptLogits(context, Prompt);
        using var pooled = Context(new Recorder(), persistentThreads: true);
        var first = Decoding.PromptLogits(pooled, Prompt);
        pooled.PauseThreads();
        pooled.Memory.Clear();
        var second = Decoding.PromptLogits(pooled, Prompt); // a paused pool resumes by itself
        Assert.True(Decoding.MaxAbsDiff(plain, first) < 1e-4f);
        Assert.Equal(first, second);
    }
}
