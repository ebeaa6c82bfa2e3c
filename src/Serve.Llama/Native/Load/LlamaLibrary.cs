using System.Reflection;
using System.Runtime.InteropServices;

namespace Serve.Llama.Native.Load;

/// <summary>
/// Loads llama.cpp from one directory for the whole process. Configure it (optionally) before any other use of
/// Serve.Llama; the first native call fixes the choice.
/// </summary>
public static class LlamaLibrary
{
    private static readonly object Gate = new();
    private static LlamaLibraryOptions? _options;
    private static string? _directory;
    private static bool _resolverInstalled;
    private static readonly Dictionary<string, nint> Loaded = [];

    /// <summary>Chooses the library directory. Throws once the libraries are loaded from a different directory.</summary>
    public static void Configure(LlamaLibraryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        lock (Gate)
        {
            if (_directory is not null)
            {
                var wanted = options.Directory is null ? null : Path.GetFullPath(options.Directory);
                if (wanted is null || wanted == _directory) return;
                throw new InvalidOperationException(
                    $"llama.cpp is already loaded from '{_directory}'; configure LlamaLibrary before first use.");
            }
            _options = options;
        }
    }

    /// <summary>The directory the libraries are loaded from (resolving it if needed).</summary>
    public static string Directory
    {
        get
        {
            lock (Gate)
            {
                return _directory ??= LlamaLibraryLocator.Find(
                    _options?.Directory,
                    Environment.GetEnvironmentVariable(LlamaLibraryLocator.EnvironmentVariable),
                    AppContext.BaseDirectory);
            }
        }
    }

    internal static void EnsureResolverInstalled()
    {
        lock (Gate)
        {
            if (_resolverInstalled) return;
            NativeLibrary.SetDllImportResolver(typeof(LlamaLibrary).Assembly, Resolve);
            _resolverInstalled = true;
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!LlamaLibraryLocator.FileNames.ContainsKey(libraryName)) return nint.Zero;
        var directory = Directory;
        lock (Gate)
        {
            if (Loaded.TryGetValue(libraryName, out var existing)) return existing;
            var path = LlamaLibraryLocator.FileIn(directory, libraryName)
                ?? throw new DllNotFoundException($"{string.Join(" or ", LlamaLibraryLocator.FileNames[libraryName])} is not in {directory}");
            // Absolute path: the libraries' RUNPATH is $ORIGIN, so their own dependencies load from the same place.
            var handle = NativeLibrary.Load(path);
            Loaded[libraryName] = handle;
            return handle;
        }
    }
}
