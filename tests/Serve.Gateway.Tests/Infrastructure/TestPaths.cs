using System.Reflection;

namespace Serve.Gateway.Tests.Infrastructure;

/// <summary>Paths the build embedded in the test assembly (see the csproj).</summary>
internal static class TestPaths
{
    public static string ServerDll => Metadata("ServeServerDll");
    public static string GatewayDll => Metadata("ServeGatewayDll");
    public static string RepositoryRoot => Metadata("RepositoryRoot");

    private static string Metadata(string key) =>
        typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"The test assembly lacks {key}; build it through its csproj.");
}
