using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>
/// Holds a reference on a SafeHandle for the length of a native call that takes a raw pointer derived from it
/// (a vocab or memory pointer), so a concurrent Dispose cannot free the object mid-call.
/// Throws ObjectDisposedException when the handle is already closed.
/// </summary>
internal readonly struct SafeHandleLease : IDisposable
{
    private readonly SafeHandle? _handle;

    public SafeHandleLease(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _handle = added ? handle : null;
    }

    public void Dispose() => _handle?.DangerousRelease();
}
