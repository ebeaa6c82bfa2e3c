namespace Serve.Llama;

/// <summary>A llama.cpp call failed; the message carries llama.cpp's own error log lines when it wrote any.</summary>
public class LlamaException : Exception
{
    public LlamaException(string message) : base(message) { }

    public LlamaException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Builds "what failed: native error lines" from the errors captured during the failing call.</summary>
    internal static LlamaException FromNative(string what, IReadOnlyList<string> nativeErrors) =>
        new(WithNativeErrors(what, nativeErrors));

    internal static string WithNativeErrors(string what, IReadOnlyList<string> nativeErrors) =>
        nativeErrors.Count == 0 ? what : $"{what}: {string.Join(" | ", nativeErrors)}";
}
