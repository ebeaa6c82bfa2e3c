using System.Xml.Linq;
using Serve.Redis.Caching;

namespace Serve.Redis.Tests;

/// <summary>Issue 16: Serve.Redis is shared state on Redis only; the engine and the server glue stay out of it.</summary>
public sealed class LayeringTests
{
    [Fact]
    public void ServeRedis_ReferencesNeitherTheEngineNorTheServer()
    {
        var referenced = typeof(RedisStore).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain("Serve.Engine", referenced);
        Assert.DoesNotContain("Serve.Server", referenced);
        Assert.DoesNotContain("Serve.Llama", referenced);

        // What `dotnet list src/Serve.Redis reference` reads: no project references at all.
        var project = XDocument.Load(Path.Combine(TestPaths.RepositoryRoot, "src/Serve.Redis/Serve.Redis.csproj"));
        Assert.Empty(project.Descendants("ProjectReference"));
    }

    [Fact]
    public void ResponseCacheKey_DependsOnTheConfigurationKeyText()
    {
        var a = ResponseCacheKey.Compute("base-sha", "a@v1*1", "chat", "{}");
        Assert.Equal(a, ResponseCacheKey.Compute("base-sha", "a@v1*1", "chat", "{}"));
        Assert.NotEqual(a, ResponseCacheKey.Compute("base-sha", "a@v2*1", "chat", "{}"));
        Assert.Matches("^[0-9a-f]{64}$", a);
    }
}
