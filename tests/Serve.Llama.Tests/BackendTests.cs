using Microsoft.Extensions.Logging;
using Serve.Llama.Native;
using Serve.Llama.Native.Load;

namespace Serve.Llama.Tests;

public sealed class BackendTests
{
    [Fact]
    public void Initialize_CalledTwice_IsIdempotent()
    {
        LlamaBackend.Initialize();
        LlamaBackend.Initialize();
        Assert.NotEmpty(LlamaBackend.Devices);
    }

    [Fact]
    public void SystemInfo_AfterInitialize_ReportsCpuFeatures()
    {
        var info = LlamaBackend.SystemInfo;
        Assert.Contains("CPU", info);
        Assert.False(string.IsNullOrWhiteSpace(LlamaBackend.Version));
    }

    [Fact]
    public void Devices_CpuBuild_ListsCpuDevice()
    {
        var cpu = Assert.Single(LlamaBackend.Devices, d => d.Type == GgmlBackendDeviceType.Cpu);
        Assert.False(string.IsNullOrEmpty(cpu.Name));
    }

    [Fact]
    public void MaxParallelSequences_IsAtLeastEight()
    {
        Assert.True(LlamaBackend.MaxParallelSequences >= 8);
    }

    [Fact]
    public void LibraryDirectory_Resolved_HoldsTheLibrariesBuiltFromSource()
    {
        LlamaBackend.Initialize();
        foreach (var name in new[] { "libllama.so", "libggml.so", "libggml-base.so", "libggml-cpu.so" })
            Assert.True(File.Exists(Path.Combine(LlamaLibrary.Directory, name)), $"{name} is not in {LlamaLibrary.Directory}");
        Assert.True(File.Exists(Path.Combine(LlamaLibrary.Directory, "libllama.so.0.5.0")), "not the release native/build-llama.sh builds");
    }

    [Fact]
    public void Locator_ExplicitDirectoryWithoutLibraries_ThrowsListingIt()
    {
        var bogus = Path.Combine(Path.GetTempPath(), "no-llama-here-" + Guid.NewGuid().ToString("N"));
        var ex = Assert.Throws<LlamaLibraryNotFoundException>(() => LlamaLibraryLocator.Find(bogus, "/also/ignored", AppContext.BaseDirectory));
        Assert.Contains(bogus, ex.Message);
        Assert.Single(ex.Tried);
    }

    [Fact]
    public void Locator_EnvironmentDirectoryWithoutLibraries_ThrowsNamingVariable()
    {
        var ex = Assert.Throws<LlamaLibraryNotFoundException>(() => LlamaLibraryLocator.Find(null, "/nonexistent/llama", "/tmp"));
        Assert.Contains("SERVE_LLAMA_LIB_DIR", ex.Message);
        Assert.Contains("/nonexistent/llama", ex.Message);
    }

    [Fact]
    public void Locator_NothingFound_ListsEveryPathTried()
    {
        var root = Path.Combine(Path.GetTempPath(), "empty-base-" + Guid.NewGuid().ToString("N"), "a", "b");
        Directory.CreateDirectory(root);
        try
        {
            var ex = Assert.Throws<LlamaLibraryNotFoundException>(() => LlamaLibraryLocator.Find(null, null, root));
            Assert.Contains(Path.Combine(root, "llama"), ex.Message);
            Assert.Contains(ex.Tried, t => t.Contains(Path.Combine("native", "lib")));
            Assert.True(ex.Tried.Count >= 4); // <base>/llama plus one checkout candidate per ancestor
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(root))!, recursive: true);
        }
    }

    [Fact]
    public void Locator_BaseDirectoryLlamaFolder_IsFound()
    {
        var found = LlamaLibraryLocator.Find(null, null, AppContext.BaseDirectory);
        Assert.Equal(Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "llama")), found);
    }

    [Fact]
    public void Locator_CudaPackageNames_AreFoundAndPreferredOnlyWhenTheCpuNamesAreAbsent()
    {
        // The CUDA npm package ships libllama.cuda.v0.5.0.so / libggml.cuda.v0.5.0.so beside libggml-base.so.
        var dir = Directory.CreateTempSubdirectory("serve-cuda-names-").FullName;
        try
        {
            foreach (var name in new[] { "libllama.cuda.v0.5.0.so", "libggml.cuda.v0.5.0.so", "libggml-base.so" }) File.WriteAllBytes(Path.Combine(dir, name), []);
            Assert.Equal(Path.GetFullPath(dir), LlamaLibraryLocator.Find(dir, null, AppContext.BaseDirectory));
            Assert.Equal(Path.Combine(dir, "libllama.cuda.v0.5.0.so"), LlamaLibraryLocator.FileIn(dir, NativeApi.Llama));
            Assert.Equal(Path.Combine(dir, "libggml.cuda.v0.5.0.so"), LlamaLibraryLocator.FileIn(dir, NativeApi.Ggml));
            File.WriteAllBytes(Path.Combine(dir, "libllama.v0.5.0.so"), []);
            Assert.Equal(Path.Combine(dir, "libllama.v0.5.0.so"), LlamaLibraryLocator.FileIn(dir, NativeApi.Llama));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Configure_AfterLoadWithOtherDirectory_Throws()
    {
        LlamaBackend.Initialize();
        Assert.Throws<InvalidOperationException>(() => LlamaLibrary.Configure(new LlamaLibraryOptions { Directory = "/somewhere/else" }));
    }

    [Theory]
    [InlineData(GgmlLogLevel.Debug, LogLevel.Debug)]
    [InlineData(GgmlLogLevel.Info, LogLevel.Information)]
    [InlineData(GgmlLogLevel.Warn, LogLevel.Warning)]
    [InlineData(GgmlLogLevel.Error, LogLevel.Error)]
    public void MapLevel_GgmlLevels_MapToLogLevels(GgmlLogLevel native, LogLevel expected)
    {
        Assert.Equal(expected, LlamaLogging.MapLevel(native));
    }
}
