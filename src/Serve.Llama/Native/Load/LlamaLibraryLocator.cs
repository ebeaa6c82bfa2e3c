namespace Serve.Llama.Native.Load;

/// <summary>
/// Chooses the directory of the llama.cpp libraries. Order: explicit option, then SERVE_LLAMA_LIB_DIR, then
/// &lt;base dir&gt;/llama, then the checkout's native/lib (native/build-llama.sh) found by walking up from the base directory. An explicit option or
/// environment variable that names a directory without the libraries is an error, not a reason to fall back:
/// silently loading the CPU build when the CUDA one was asked for would be worse than failing.
/// </summary>
internal static class LlamaLibraryLocator
{
    internal const string EnvironmentVariable = "SERVE_LLAMA_LIB_DIR";
    internal const string MarkerFile = "libllama.so (built by native/build-llama.sh), libllama.v0.5.0.so or libllama.cuda.v0.5.0.so";
    /// <summary>Where native/build-llama.sh links its build inside a checkout.</summary>
    internal static readonly string CheckoutRelativePath = Path.Combine("native", "lib");

    /// <summary>
    /// Native library names used in [LibraryImport] mapped to the shipped file names, CPU build first. The CUDA
    /// package (@node-llama-cpp/linux-x64-cuda) names its two main libraries libllama.cuda.v0.5.0.so and
    /// libggml.cuda.v0.5.0.so; libggml-base.so is the same name in both.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string[]> FileNames = new Dictionary<string, string[]>
    {
        [NativeApi.Llama] = ["libllama.so", "libllama.v0.5.0.so", "libllama.cuda.v0.5.0.so"],
        [NativeApi.Ggml] = ["libggml.so", "libggml.v0.5.0.so", "libggml.cuda.v0.5.0.so"],
        [NativeApi.GgmlBase] = ["libggml-base.so"],
    };

    /// <summary>The file of <paramref name="libraryName"/> in <paramref name="directory"/>, or null when none of its names is there.</summary>
    internal static string? FileIn(string directory, string libraryName) =>
        FileNames.TryGetValue(libraryName, out var names)
            ? names.Select(n => Path.Combine(directory, n)).FirstOrDefault(File.Exists)
            : null;

    internal static string Find(string? explicitDirectory, string? environmentDirectory, string baseDirectory)
    {
        var tried = new List<string>();
        if (!string.IsNullOrWhiteSpace(explicitDirectory))
            return Require(explicitDirectory, "LlamaLibraryOptions.Directory", tried);
        if (!string.IsNullOrWhiteSpace(environmentDirectory))
            return Require(environmentDirectory, EnvironmentVariable, tried);

        var beside = Path.Combine(baseDirectory, "llama");
        if (HasLibraries(beside)) return Path.GetFullPath(beside);
        tried.Add($"{beside} (<base directory>/llama)");

        for (var dir = new DirectoryInfo(baseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, CheckoutRelativePath);
            if (HasLibraries(candidate)) return candidate;
            tried.Add($"{candidate} (native/build-llama.sh output, walking up from the base directory)");
        }
        throw new LlamaLibraryNotFoundException(tried);
    }

    private static string Require(string directory, string source, List<string> tried)
    {
        if (HasLibraries(directory)) return Path.GetFullPath(directory);
        tried.Add($"{directory} ({source})");
        throw new LlamaLibraryNotFoundException(tried);
    }

    private static bool HasLibraries(string directory) => FileIn(directory, NativeApi.Llama) is not null;
}
