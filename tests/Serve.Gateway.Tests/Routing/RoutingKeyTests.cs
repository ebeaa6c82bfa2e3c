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
