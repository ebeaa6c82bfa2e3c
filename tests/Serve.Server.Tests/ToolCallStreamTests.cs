using Serve.Server.Tools;

namespace Serve.Server.Tests;

/// <summary>The reader that splits streamed output into text and calls, fed in every possible piece size.</summary>
public sealed class ToolCallStreamTests
{
    private const string TwoCalls =
        "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"note\": \"a } and \\\" inside\"}}</tool_call>\n" +
        "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"zone\": [1, {\"x\": 2}]}}</tool_call>";

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(1000)]
    public void Feed_CallsInAnyPieces_SameCallsAndArgumentsStreamedWhole(int pieceSize)
    {
        var stream = new ToolCallStream();
        var events = new List<ToolStreamEvent>();
        for (var i = 0; i < TwoCalls.Length; i += pieceSize) events.AddRange(stream.Feed(TwoCalls.Substring(i, Math.Min(pieceSize, TwoCalls.Length - i))));

        Assert.False(stream.Incomplete);
        Assert.Equal([("get_weather", "{\"city\": \"Oslo\", \"note\": \"a } and \\\" inside\"}"), ("get_time", "{\"zone\": [1, {\"x\": 2}]}")],
            stream.Calls.Select(c => (c.Name, c.Arguments)));
        Assert.DoesNotContain(events, e => e is ContentEvent);
        var starts = events.OfType<CallStartEvent>().ToList();
        Assert.Equal([0, 1], starts.Select(s => s.Index));
        Assert.All(starts, s => Assert.StartsWith("call_", s.Id));
        // Each call's start comes before its argument fragments, which add up to its arguments.
        for (var call = 0; call < 2; call++)
        {
            var startAt = events.IndexOf(starts[call]);
            var fragments = events.Select((e, i) => (e, i)).Where(x => x.e is ArgumentsEvent a && a.Index == call).ToList();
            Assert.All(fragments, f => Assert.True(f.i > startAt));
            Assert.Equal(stream.Calls[call].Arguments, string.Concat(fragments.Select(f => ((ArgumentsEvent)f.e).Fragment)));
        }
    }

    [Fact]
    public void Feed_Text_IsContent()
    {
        var stream = new ToolCallStream();
        var events = stream.Feed("It is sunny").Concat(stream.Feed(" <b>today</b>")).ToList();
        Assert.False(stream.HasCalls);
        Assert.Equal("It is sunny <b>today</b>", string.Concat(events.Cast<ContentEvent>().Select(e => e.Text)));
    }

    [Fact]
    public void Feed_CutInsideACall_Incomplete()
    {
        var stream = new ToolCallStream();
        stream.Feed("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": \"unfini");
        Assert.True(stream.HasCalls);
        Assert.True(stream.Incomplete);
    }
}
