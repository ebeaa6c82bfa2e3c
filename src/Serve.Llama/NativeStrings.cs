using System.Text;

namespace Serve.Llama;

/// <summary>Reads strings from llama.cpp's snprintf-style getters: they return the full length, so grow and retry.</summary>
internal static unsafe class NativeStrings
{
    internal delegate int Getter(byte* buffer, nuint size);

    internal static string? Read(Getter getter)
    {
        Span<byte> stack = stackalloc byte[256];
        int n;
        fixed (byte* p = stack)
        {
            n = getter(p, (nuint)stack.Length);
        }
        if (n < 0) return null;
        if (n < stack.Length) return Encoding.UTF8.GetString(stack[..n]);

        var heap = new byte[n + 1];
        fixed (byte* p = heap)
        {
            n = getter(p, (nuint)heap.Length);
        }
        return n < 0 ? null : Encoding.UTF8.GetString(heap, 0, Math.Min(n, heap.Length - 1));
    }
}
