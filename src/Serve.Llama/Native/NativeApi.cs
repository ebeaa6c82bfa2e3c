using Serve.Llama.Native.Load;

namespace Serve.Llama.Native;

/// <summary>
/// The raw llama.cpp / ggml C API. The only place in the solution that declares P/Invoke. Everything here is
/// blittable: C bools cross as <see cref="NativeBool"/> or explicit one-byte marshalling, strings as UTF-8.
/// </summary>
internal static unsafe partial class NativeApi
{
    internal const string Llama = "llama";
    internal const string Ggml = "ggml";
    internal const string GgmlBase = "ggml-base";

    // Runs before the first call of any entry point: the resolver must be in place before the runtime binds one.
    static NativeApi() => LlamaLibrary.EnsureResolverInstalled();

    /// <summary>Reads a NUL-terminated UTF-8 string owned by native code (null stays null).</summary>
    internal static string? PtrToString(byte* value) =>
        value == null ? null : System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)value);
}
