// `netstack run`: the libc calls the sandbox needs beyond LinkEndpoint/Tun's LinuxNative (which it also uses):
// passing a descriptor over a Unix socket (SCM_RIGHTS), execve, signals, mounts, prctl, pidfd, netlink I/O.
// x86-64/arm64 Linux values; every call sets errno (Marshal.GetLastPInvokeError).
using System.Runtime.InteropServices;

namespace NetStack.Cli.Run;

/// <summary><c>struct msghdr</c> (64-bit Linux).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    public void* Name;
    public uint NameLength;
    public Link.Tun.IoVec* Iov;
    public nuint IovLength;
    public void* Control;
    public nuint ControlLength;
    public int Flags;
}

/// <summary>libc entry points and constants for the sandbox.</summary>
internal static unsafe partial class RunNative
{
    private const string Libc = "libc";

    public const int SOL_SOCKET = 1;
    public const int SCM_RIGHTS = 1;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int FD_CLOEXEC = 1;

    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGKILL = 9;
    public const int SIGPIPE = 13;
    public const int SIGTERM = 15;

    public const int PR_SET_PDEATHSIG = 1;
    public const int PR_CAP_AMBIENT = 47;
    public const int PR_CAP_AMBIENT_CLEAR_ALL = 4;

    public const ulong MS_BIND = 4096;
    public const int MNT_DETACH = 2;

    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int ENOEXEC = 8;
    public const int ENXIO = 6;
    public const int EAFNOSUPPORT = 97;

    public const int AF_NETLINK = 16;
    public const int SOCK_RAW = 3;
    public const int NETLINK_ROUTE = 0;

    private const long SYS_pidfd_open = 434;

    [LibraryImport(Libc, EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Libc, EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint RecvMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Libc, EntryPoint = "execve", SetLastError = true)]
    public static partial int Execve(byte* path, byte** argv, byte** envp);

    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport(Libc, EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport(Libc, EntryPoint = "mount", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Mount(string? source, string target, string? fileSystemType, ulong flags, string? data);

    [LibraryImport(Libc, EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Umount2(string target, int flags);

    [LibraryImport(Libc, EntryPoint = "getppid")]
    public static partial int GetParentPid();

    [LibraryImport(Libc, EntryPoint = "getuid")]
    public static partial uint GetUid();

    [LibraryImport(Libc, EntryPoint = "getgid")]
    public static partial uint GetGid();

    [LibraryImport(Libc, EntryPoint = "getpgrp")]
    public static partial int GetProcessGroup();

    [LibraryImport(Libc, EntryPoint = "tcgetpgrp", SetLastError = true)]
    public static partial int TcGetProcessGroup(int fd);

    [LibraryImport(Libc, EntryPoint = "signal", SetLastError = true)]
    public static partial nint Signal(int signal, nint handler);

    [LibraryImport(Libc, EntryPoint = "sigprocmask", SetLastError = true)]
    public static partial int SigProcMask(int how, ulong* set, ulong* oldSet);

    [LibraryImport(Libc, EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial uint InterfaceIndex(string name);

    [LibraryImport(Libc, EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Access(string path, int mode);

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long arg1, long arg2);

    [LibraryImport(Libc, EntryPoint = "_exit")]
    public static partial void Exit(int status);

    /// <summary><c>pidfd_open(pid, 0)</c> (Linux ≥ 5.3): a descriptor that polls readable when the process exits.</summary>
    public static int PidFdOpen(int pid) => (int)Syscall(SYS_pidfd_open, pid, 0);

    /// <summary>Sets or clears FD_CLOEXEC; false with errno on failure.</summary>
    public static bool SetCloseOnExec(int fd, bool closeOnExec) =>
        Link.Tun.LinuxNative.Fcntl(fd, F_SETFD, closeOnExec ? FD_CLOEXEC : 0) == 0;

    /// <summary>
    /// Sends one datagram on a SOCK_SEQPACKET socket, with <paramref name="passFd"/> attached (SCM_RIGHTS) when it is
    /// not negative. Returns false with errno on failure.
    /// </summary>
    public static bool Send(int socket, ReadOnlySpan<byte> data, int passFd = -1)
    {
        byte* control = stackalloc byte[ControlSpace];
        new Span<byte>(control, ControlSpace).Clear();
        fixed (byte* bytes = data)
        {
            var iov = new Link.Tun.IoVec { Base = bytes, Length = (nuint)data.Length };
            var message = new MsgHdr { Iov = &iov, IovLength = 1 };
            if (passFd >= 0)
            {
                WriteRightsHeader(control, passFd);
                message.Control = control;
                message.ControlLength = (nuint)ControlSpace;
            }
            nint sent;
            do
            {
                sent = SendMsg(socket, &message, MSG_NOSIGNAL);
            }
            while (sent < 0 && Marshal.GetLastPInvokeError() == Link.Tun.LinuxNative.EINTR);
            return sent == data.Length;
        }
    }

    /// <summary>
    /// Receives one datagram into <paramref name="buffer"/>; a descriptor passed with it comes back in
    /// <paramref name="receivedFd"/> (close-on-exec), else -1. Returns the length (0 at end of stream), or -1 with errno.
    /// </summary>
    public static int Receive(int socket, Span<byte> buffer, out int receivedFd)
    {
        receivedFd = -1;
        byte* control = stackalloc byte[ControlSpace];
        new Span<byte>(control, ControlSpace).Clear();
        fixed (byte* bytes = buffer)
        {
            var iov = new Link.Tun.IoVec { Base = bytes, Length = (nuint)buffer.Length };
            var message = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)ControlSpace };
            nint received;
            do
            {
                received = RecvMsg(socket, &message, MSG_CMSG_CLOEXEC);
            }
            while (received < 0 && Marshal.GetLastPInvokeError() == Link.Tun.LinuxNative.EINTR);
            if (received >= 0 && message.ControlLength >= (nuint)(ControlHeaderSize + sizeof(int))
                && *(int*)(control + sizeof(nuint)) == SOL_SOCKET && *(int*)(control + sizeof(nuint) + sizeof(int)) == SCM_RIGHTS)
            {
                receivedFd = *(int*)(control + ControlHeaderSize);
            }
            return (int)received;
        }
    }

    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } followed by the data, aligned to size_t.
    private static int ControlHeaderSize => sizeof(nuint) + 2 * sizeof(int);

    private static int ControlSpace => ControlHeaderSize + sizeof(nuint); // CMSG_SPACE(sizeof(int))

    private static void WriteRightsHeader(byte* control, int fd)
    {
        *(nuint*)control = (nuint)(ControlHeaderSize + sizeof(int)); // CMSG_LEN(sizeof(int))
        *(int*)(control + sizeof(nuint)) = SOL_SOCKET;
        *(int*)(control + sizeof(nuint) + sizeof(int)) = SCM_RIGHTS;
        *(int*)(control + ControlHeaderSize) = fd;
    }

    /// <summary>Waits up to <paramref name="timeoutMilliseconds"/> (−1: forever) for <paramref name="fd"/> to be readable (or hung up).</summary>
    public static bool WaitReadable(int fd, int timeoutMilliseconds)
    {
        var poll = new Link.Tun.PollFd { Fd = fd, Events = Link.Tun.LinuxNative.POLLIN };
        while (true)
        {
            int ready = Link.Tun.LinuxNative.Poll(&poll, 1, timeoutMilliseconds);
            if (ready >= 0)
            {
                return ready > 0;
            }
            if (Marshal.GetLastPInvokeError() != Link.Tun.LinuxNative.EINTR)
            {
                return false;
            }
        }
    }
}
