using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    /// <summary>Returns the formatted length in bytes (may exceed length: grow and call again), or a negative value for an unknown template.</summary>
    [LibraryImport(Llama)]
    internal static partial int llama_chat_apply_template(byte* tmpl, LlamaChatMessage* chat, nuint nMsg, NativeBool addAss,
        byte* buf, int length);

    /// <summary>Fills up to len names and returns how many built-in templates exist.</summary>
    [LibraryImport(Llama)]
    internal static partial int llama_chat_builtin_templates(byte** output, nuint len);
}
