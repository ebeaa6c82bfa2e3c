namespace Serve.Llama.Native.Load;

/// <summary>No directory with the llama.cpp shared libraries was found; <see cref="Tried"/> lists where we looked.</summary>
public sealed class LlamaLibraryNotFoundException : LlamaException
{
    public LlamaLibraryNotFoundException(IReadOnlyList<string> tried)
        : base(Describe(tried)) => Tried = tried;

    public IReadOnlyList<string> Tried { get; }

    private static string Describe(IReadOnlyList<string> tried) =>
        $"llama.cpp native libraries ({LlamaLibraryLocator.MarkerFile}) were not found. Set " +
        $"{LlamaLibraryLocator.EnvironmentVariable} or call LlamaLibrary.Configure. Tried:" +
        string.Concat(tried.Select(t => Environment.NewLine + "  " + t));
}
