namespace Serve.Engine.Scheduling;

/// <summary>
/// Finds stop strings across token boundaries. Text that could still be the start of a stop string is held back
/// until it can no longer match, so a stop string is never sent to the client.
/// </summary>
internal sealed class StopStringMatcher(IReadOnlyList<string> stops)
{
    private string _pending = "";

    public bool Stopped { get; private set; }

    /// <summary>Adds text; returns what can be released now. After a match, Stopped is true and the rest is dropped.</summary>
    public string Push(string text)
    {
        if (Stopped) return "";
        var buffer = _pending + text;
        if (stops.Count == 0) return buffer;
        var first = -1;
        foreach (var stop in stops)
        {
            var at = buffer.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0)
        {
            Stopped = true;
            _pending = "";
            return buffer[..first];
        }
        var hold = 0;
        foreach (var stop in stops)
        {
            for (var n = Math.Min(stop.Length - 1, buffer.Length); n > hold; n--)
            {
                if (buffer.AsSpan(buffer.Length - n).SequenceEqual(stop.AsSpan(0, n))) { hold = n; break; }
            }
        }
        _pending = buffer[^hold..];
        return buffer[..^hold];
    }

    /// <summary>Releases what was held back (the generation ended for another reason).</summary>
    public string Flush()
    {
        var rest = Stopped ? "" : _pending;
        _pending = "";
        return rest;
    }
}
