using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>
/// A llama.cpp object pointer that keeps the handles it depends on alive (a context or adapter needs its model).
/// Dependencies get a DangerousAddRef when attached and are released only after this object is freed, so
/// whatever order users dispose in, native frees run child first, parent last.
/// </summary>
internal abstract class SafeLlamaHandle : SafeHandle
{
    private readonly List<SafeHandle> _dependencies = [];

    protected SafeLlamaHandle() : base(nint.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == nint.Zero;

    /// <summary>Takes a reference on dependency until this handle is released; throws if it is already disposed.</summary>
    internal void AddDependency(SafeHandle dependency)
    {
        bool added = false;
        dependency.DangerousAddRef(ref added);
        lock (_dependencies) _dependencies.Add(dependency);
    }

    internal void Attach(nint pointer) => SetHandle(pointer);

    protected abstract void Free(nint pointer);

    protected sealed override bool ReleaseHandle()
    {
        Free(handle);
        ReleaseDependencies();
        return true;
    }

    // ReleaseHandle never runs for a handle that got no pointer (a failed create), so its references go here.
    protected override void Dispose(bool disposing)
    {
        if (IsInvalid) ReleaseDependencies();
        base.Dispose(disposing);
    }

    private void ReleaseDependencies()
    {
        SafeHandle[] dependencies;
        lock (_dependencies)
        {
            dependencies = [.. _dependencies];
            _dependencies.Clear();
        }
        foreach (var dependency in dependencies) dependency.DangerousRelease();
    }
}
