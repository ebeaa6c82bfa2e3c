using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_chat_message: two UTF-8, NUL-terminated strings.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LlamaChatMessage
{
    public byte* Role;
    public byte* Content;
}
