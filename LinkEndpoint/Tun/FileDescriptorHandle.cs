using System.Runtime.InteropServices;

namespace NetStack.Link.Tun;

/// <summary>
/// A Linux file descriptor owned by a <see cref="SafeHandle"/>: closed exactly once, never while a call that
/// borrowed it (through <see cref="SafeHandle.DangerousAddRef"/>) is still running.
/// </summary>
internal sealed class FileDescriptorHandle : SafeHandle
{
    /// <summary>Wraps <paramref name="fd"/>; with <paramref name="ownsHandle"/> the descriptor is closed on release.</summary>
    public FileDescriptorHandle(int fd, bool ownsHandle)
        : base(new IntPtr(-1), ownsHandle) => SetHandle(new IntPtr(fd));

    /// <inheritdoc/>
    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The descriptor number (valid while the handle is not closed).</summary>
    public int Fd => (int)handle.ToInt64();

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => LinuxNative.Close((int)handle.ToInt64()) == 0;
}
