using System.Reflection;

namespace Serve.Testing;

/// <summary>
/// Paths the build embedded in the test assembly as AssemblyMetadata (see the EmbedServePaths target in
/// tests/Directory.Build.targets): the server and gateway build outputs the process tests run, and the repository root.
/// </summary>
public static class TestPaths
{
    public static string ServerDll => Existing(Metadata("ServeServerDll"), "src/Serve.Server");
    public static string GatewayDll => Existing(Metadata("ServeGatewayDll"), "src/Serve.Gateway");
    public static string RepositoryRoot => Metadata("RepositoryRoot");

    private static string Metadata(string key) =>
        typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"The test assembly lacks {key}; build it through its csproj (it must reference the project).");

    private static string Existing(string dll, string project) =>
        File.Exists(dll) ? dll : throw new FileNotFoundException($"Build {project} first", dll);
}
