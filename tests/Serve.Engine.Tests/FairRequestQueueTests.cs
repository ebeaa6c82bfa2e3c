using Serve.Engine.Scheduling;

namespace Serve.Engine.Tests;

/// <summary>The fairness policy on its own: caps and turn order, by counting, with no model and no clock.</summary>
public sealed class FairRequestQueueTests
{
    private sealed record Item(string? Client, int N);

    private static List<Item> Order(FairRequestQueue fair, params Item[] waiting) => fair.Order(waiting, i => i.Client);

    [Fact]
    public void Caps_AreTheSharesOfTheLimits_AtLeastOne()
    {
        var fair = new FairRequestQueue(maxSequences: 8, maxQueuedRequests: 256, runningShare: 0.5, queueShare: 0.25);
        Assert.Equal(4, fair.RunningCap);
        Assert.Equal(64, fair.QueueCap);
        var tiny = new FairRequestQueue(maxSequences: 1, maxQueuedRequests: 2, runningShare: 0.1, queueShare: 0.1);
        Assert.Equal(1, tiny.RunningCap);
        Assert.Equal(1, tiny.QueueCap);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FairRequestQueue(8, 8, 0, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FairRequestQueue(8, 8, 0.5, 1.5));
    }

    [Fact]
    public void QueuePlaces_OneClientIsRefusedAtItsShare_OthersStillGetIn()
    {
        var fair = new FairRequestQueue(maxSequences: 8, maxQueuedRequests: 16, runningShare: 0.5, queueShare: 0.25);
        for (var i = 0; i < 4; i++) Assert.True(fair.TryEnterQueue("noisy"));
        Assert.False(fair.TryEnterQueue("noisy"));
        Assert.True(fair.TryEnterQueue("victim"));
        fair.LeftQueue("noisy");
        Assert.True(fair.TryEnterQueue("noisy"));
        Assert.Equal((0, 4), fair.Counts("noisy"));
        // In-process callers (no client id) are not limited.
        for (var i = 0; i < 100; i++) Assert.True(fair.TryEnterQueue(null));
    }

    [Fact]
    public void Running_AClientStopsAtItsShare_EvenAlone_AndGoesOnWhenOneEnds()
    {
        var fair = new FairRequestQueue(maxSequences: 8, maxQueuedRequests: 64, runningShare: 0.5, queueShare: 0.5);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(fair.CanStart("noisy"));
            fair.Started("noisy");
        }
        Assert.False(fair.CanStart("noisy"));
        Assert.True(fair.CanStart("victim"));
        fair.Finished("noisy");
        Assert.True(fair.CanStart("noisy"));
        Assert.True(fair.CanStart(null));
    }

    [Fact]
    public void Order_IsRoundRobinOverClients_NotFirstInFirstOut()
    {
        var fair = new FairRequestQueue(8, 64, 1.0, 1.0);
        // The noisy client queued four before the victim's one arrived: the victim's goes second, not fifth.
        var order = Order(fair, new("noisy", 1), new("noisy", 2), new("noisy", 3), new("noisy", 4), new("victim", 1), new("other", 1), new("other", 2));
        Assert.Equal(
            [new("noisy", 1), new("victim", 1), new("other", 1), new("noisy", 2), new("other", 2), new("noisy", 3), new("noisy", 4)],
            order);
    }

    [Fact]
    public void Order_LeastRecentlyServedClientFirst()
    {
        var fair = new FairRequestQueue(8, 64, 1.0, 1.0);
        fair.Started("a");
        fair.Started("b");
        // a was served before b: a's turn comes first although b's request is older.
        Assert.Equal([new("a", 1), new("b", 1)], Order(fair, new("b", 1), new("a", 1)));
        fair.Started("a");
        Assert.Equal([new("b", 1), new("a", 1)], Order(fair, new("b", 1), new("a", 1)));
    }

    [Fact]
    public void Simulation_TwoHundredNoisyRequests_TheVictimStartsAtOnce()
    {
        // A scheduler's admission, step by step: 8 sequences; the noisy client queues 200 long requests (the queue
        // takes 64 of them: its share), then a victim asks for one.
        var fair = new FairRequestQueue(maxSequences: 8, maxQueuedRequests: 256, runningShare: 0.5, queueShare: 0.25);
        var waiting = new List<Item>();
        var refused = 0;
        for (var i = 0; i < 200; i++)
        {
            if (fair.TryEnterQueue("noisy")) waiting.Add(new("noisy", i));
            else refused++;
        }
        Assert.Equal(136, refused);
        var running = new List<Item>();
        void Admit()
        {
            foreach (var item in fair.Order(waiting, w => w.Client))
            {
                if (running.Count >= 8) break;
                if (!fair.CanStart(item.Client)) continue;
                waiting.Remove(item);
                fair.LeftQueue(item.Client);
                fair.Started(item.Client);
                running.Add(item);
            }
        }
        Admit();
        Assert.Equal(4, running.Count); // the other half stays free for someone else
        Assert.True(fair.TryEnterQueue("victim"));
        waiting.Add(new("victim", 0));
        Admit();
        Assert.Contains(new Item("victim", 0), running);
        Assert.Equal(4, running.Count(r => r.Client == "noisy"));
    }
}
