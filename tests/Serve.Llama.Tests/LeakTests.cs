namespace Serve.Llama.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LeakCollection : ICollectionFixture<LlamaModelFixture>
{
    public const string Name = "llama leaks (alone)";
}

/// <summary>Runs alone so other tests' allocations do not move the process RSS.</summary>
[Collection(LeakCollection.Name)]
public sealed class LeakTests(LlamaModelFixture fixture)
{
    [Fact]
    public void CreateDispose_200ContextsAndAdapters_KeepsRssFlat()
    {
        void Cycle(int count)
        {
            for (var i = 0; i < count; i++)
            {
                using var context = LlamaContext.Create(fixture.Model, new LlamaContextOptions { ContextSize = 64, BatchSize = 32, UBatchSize = 32, Threads = 1 });
                using var adapter = LlamaLoraAdapter.Load(fixture.Model, fixture.AdapterA);
                context.SetAdapters([(adapter, 1f)]);
                using var batch = new LlamaBatch(4);
                batch.AddRange([1, 2, 3], 0, 0, true);
                context.Decode(batch);
                using var sampler = new LlamaSamplerChain().TopK(5).Greedy();
                sampler.Sample(context, 2);
            }
        }

        Cycle(20);
        var before = Rss();
        Cycle(200);
        var after = Rss();
        Assert.True(after <= before * 1.10, $"RSS grew from {before / 1024} KiB to {after / 1024} KiB");
    }

    private static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var statm = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(statm[1]) * Environment.SystemPageSize;
    }
}
