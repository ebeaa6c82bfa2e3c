namespace Serve.Engine.Tests;

/// <summary>AdapterConfiguration.From, the one place a configuration (and so a prefix-cache and response-cache key) is built from weights.</summary>
public sealed class AdapterConfigurationTests
{
    [Fact]
    public void From_AnyOrderOfWeights_SameKey_SortedByName()
    {
        var versions = new Dictionary<string, string> { ["b"] = "vb", ["a"] = "va" };
        AdapterWeight[] ab = [new("a", 0.5f), new("b", 0.25f)];
        AdapterWeight[] ba = [new("b", 0.25f), new("a", 0.5f)];
        var one = AdapterConfiguration.From(ab, i => versions[ab[i].Name]);
        var other = AdapterConfiguration.From(ba, i => versions[ba[i].Name]);
        Assert.Equal(one.Key, other.Key);
        Assert.Equal(["a", "b"], one.Entries.Select(e => e.Name));
        Assert.Equal("va", one.Entries[0].Version);
        Assert.Equal(0.25f, one.Entries[1].Scale);
    }

    [Fact]
    public void From_NoWeights_IsTheBase() =>
        Assert.Same(AdapterConfiguration.None, AdapterConfiguration.From([], _ => throw new InvalidOperationException()));

    [Fact]
    public void From_DifferentVersionOrScale_DifferentKey()
    {
        AdapterWeight[] w = [new("a", 1f)];
        Assert.NotEqual(AdapterConfiguration.From(w, _ => "v1").Key, AdapterConfiguration.From(w, _ => "v2").Key);
        Assert.NotEqual(AdapterConfiguration.From(w, _ => "v1").Key, AdapterConfiguration.From([new("a", 0.5f)], _ => "v1").Key);
    }
}
