using System.Text;
using Serve.Gateway.Routing;

namespace Serve.Gateway.Tests.Routing;

public sealed class RoutingKeyTests
{
    [Theory]
    [InlineData("""{"model":"sql-expert","messages":[]}""", "sql-expert")]
    [InlineData("""{"messages":[{"role":"user","content":"{\"model\":\"x\"}"}],"model":"late"}""", "late")]
    [InlineData("""{"mo\u0064el":"escaped-name"}""", "escaped-name")]
    [InlineData("""{"model":"caf\u00e9"}""", "café")]
    [InlineData("""{"options":{"model":"nested"}}""", null)]
    [InlineData("""{"model":42}""", null)]
    [InlineData("""{"model":null}""", null)]
    [InlineData("""  { }  """, null)]
    public void TryReadModel_ValidJson_FindsTopLevelModel(string json, string? expected)
    {
        Assert.True(RoutingKeyMiddleware.TryReadModel(Encoding.UTF8.GetBytes(json), out var model));
        Assert.Equal(expected, model);
    }

    [Theory]
    [InlineData("""{"model":"a""")]
    [InlineData("""{"model":"a"} trailing""")]
    [InlineData("""{"model":"a"}{}""")]
    [InlineData("""["model","a"]""")]
    [InlineData("""model=a""")]
    [InlineData("""{"model":"a",}""")]
    [InlineData("")]
    public void TryReadModel_Malformed_IsRejected(string json) =>
        Assert.False(RoutingKeyMiddleware.TryReadModel(Encoding.UTF8.GetBytes(json), out _));

    [Fact]
    public async Task ReadAsync_StopsAtTheLimit()
    {
        Assert.Null(await RoutingKeyMiddleware.ReadAsync(new MemoryStream(new byte[5000]), 4096, CancellationToken.None));
        Assert.Equal(4096, (await RoutingKeyMiddleware.ReadAsync(new MemoryStream(new byte[4096]), 4096, CancellationToken.None))!.Length);
    }
}

public sealed class AdapterSetKeyTests
{
    [Theory]
    [InlineData("""{"model":"base","adapters":[{"name":"b","scale":0.5},{"name":"a"}]}""", "a+b")]
    [InlineData("""{"adapters":[{"scale":1,"name":"x"}],"model":"m"}""", "x")]
    [InlineData("""{"model":"m","adapters":[{"name":"a"},{"name":"a","scale":0.1}]}""", "a")]
    [InlineData("""{"model":"m","adapters":[]}""", "m")]
    [InlineData("""{"model":"m","adapters":"a"}""", "m")]
    [InlineData("""{"model":"m","adapters":[{"scale":1}]}""", "m")]
    [InlineData("""{"model":"m","adapters":[{"name":"a"},"b"]}""", "m")]
    public void TryReadKey_AdaptersExtension_KeysBySortedSet(string json, string expected)
    {
        Assert.True(RoutingKeyMiddleware.TryReadKey(Encoding.UTF8.GetBytes(json), out var key));
        Assert.Equal(expected, key!.Key);
    }

    [Fact]
    public void TryReadKey_MalformedAdapters_IsMalformedJson() =>
        Assert.False(RoutingKeyMiddleware.TryReadKey("""{"model":"m","adapters":[{"name":"a"}"""u8, out _));
}
