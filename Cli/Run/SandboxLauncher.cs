// `netstack run`: starting the namespace side and talking to it (InitProtocol.cs) up to the hand-over of the TUN fd.
//
// Why unshare(1)/nsenter(1) and not clone(2) from here: a .NET process is multithreaded, so it cannot
// unshare(CLONE_NEWUSER) or setns into a user namespace itself, and a clone(CLONE_NEWUSER|CLONE_NEWNET|CLONE_NEWNS)
// child of it would run managed code between clone and execve. Measured: even with [SuppressGCTransition] function
// pointers and AggressiveOptimization, the JIT puts a GC poll (`cmp [g_TrapReturningThreads], 0; jne POLL_GC`) right
// after the clone call, on the child's path: a child forked while another thread was suspending the runtime (a GC,
// tiered compilation's call counting) blocks there forever. So the fork happens where the runtime does it safely
// (Process.Start: fork + execve in native code) and the namespaces are made by util-linux's unshare, which execs
// the init in them (`--keep-caps`: the init is exec'd before its ids are mapped, and an unmapped exec would drop the
// capabilities it needs for TUNSETIFF); --attach joins a process's namespaces the same way with nsenter. Both are
// single-threaded C programs that exec in place (no extra process stays), and part of util-linux, present wherever
// user namespaces are. Measured (`netstack run --stats`): Process.Start and unshare's exec take 4-16 ms; the
// init, a second .NET start, 70-110 ms to the TUN fd (a bare .NET start is ~55 ms of that).
using System.Diagnostics;
using System.Globalization;
using NetStack.Link.Tun;

namespace NetStack.Cli.Run;

/// <summary>The namespace side of one run: its process and the socket to its init.</summary>
internal sealed class SandboxLauncher : IDisposable
{
    private static readonly TimeSpan s_initTimeout = TimeSpan.FromSeconds(60);
    private readonly FileDescriptorHandle _socket;

    private SandboxLauncher(Process process, FileDescriptorHandle socket)
    {
        Process = process;
        _socket = socket;
    }

    /// <summary>The init, then CMD (the same process: unshare and nsenter exec in place).</summary>
    public Process Process { get; }

    /// <summary>
    /// Starts <c>unshare --user --keep-caps --net --mount -- netstack __run-init FD PATH ARGV…</c> (or, with
    /// <see cref="RunOptions.AttachPid"/>, <c>nsenter --target PID [--user] --net …</c>). Null with
    /// <paramref name="error"/> when the tool is missing.
    /// </summary>
    public static unsafe SandboxLauncher? Start(RunOptions options, string? commandPath, out string? error)
    {
        error = null;
        string tool = options.AttachPid is null ? "unshare" : "nsenter";
        if (CommandLookup.Which(tool) is not { } toolPath)
        {
            error = $"{tool} (util-linux) is not installed; netstack run needs it to {(options.AttachPid is null ? "create" : "enter")} the namespaces";
            return null;
        }
        int* pair = stackalloc int[2];
        // The host's end is close-on-exec; the init's end is inherited (its number goes on the init's command line).
        if (LinuxNative.SocketPair(LinuxNative.AF_UNIX, LinuxNative.SOCK_SEQPACKET | LinuxNative.SOCK_CLOEXEC, 0, pair) != 0)
        {
            error = $"socketpair: {LinuxNative.Describe(LinuxNative.LastError)}";
            return null;
        }
        var host = new FileDescriptorHandle(pair[0], ownsHandle: true);
        using var child = new FileDescriptorHandle(pair[1], ownsHandle: true);
        if (!RunNative.SetCloseOnExec(child.Fd, false))
        {
            error = $"fcntl: {LinuxNative.Describe(LinuxNative.LastError)}";
            host.Dispose();
            return null;
        }
        var start = new ProcessStartInfo(toolPath) { UseShellExecute = false };
        if (options.AttachPid is int pid)
        {
            start.ArgumentList.Add($"--target={pid}");
            if (!SameUserNamespace(pid))
            {
                start.ArgumentList.Add("--user");
            }
            // --preserve-credentials: a namespace made with setgroups denied (unshare -r) refuses nsenter's setgroups.
            foreach (string argument in new[] { "--net", "--no-fork", "--preserve-credentials" })
            {
                start.ArgumentList.Add(argument);
            }
        }
        else
        {
            foreach (string argument in new[] { "--user", "--keep-caps", "--net", "--mount", "--propagation=private" })
            {
                start.ArgumentList.Add(argument);
            }
        }
        start.ArgumentList.Add("--");
        foreach (string argument in SelfCommand())
        {
            start.ArgumentList.Add(argument);
        }
        start.ArgumentList.Add(NamespaceInit.Verb);
        start.ArgumentList.Add(child.Fd.ToString(CultureInfo.InvariantCulture));
        if (commandPath is not null)
        {
            start.ArgumentList.Add(commandPath);
            foreach (string argument in options.Command)
            {
                start.ArgumentList.Add(argument);
            }
        }
        try
        {
            return new SandboxLauncher(Process.Start(start)!, host);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            error = $"{toolPath}: {e.Message}";
            host.Dispose();
            return null;
        }
    }

    /// <summary>
    /// Waits for the init's hello, maps its ids (a new namespace), sends <paramref name="config"/> and receives the
    /// TUN device. Null with <paramref name="error"/> when the init failed (its text) or ended without a word
    /// (<paramref name="error"/> null: unshare/nsenter said why on standard error).
    /// </summary>
    public TunDevice? Handshake(InitConfig config, SubordinateMapPlan? subordinate, bool mapIds, out string? error)
    {
        ArgumentNullException.ThrowIfNull(config);
        error = null;
        byte[] buffer = new byte[InitMessage.MaxLength];
        if (Receive(buffer, out _) is not (InitMessage.Hello, _))
        {
            return null;
        }
        if (mapIds)
        {
            uint uid = RunNative.GetUid(), gid = RunNative.GetGid();
            try
            {
                if (subordinate is not null)
                {
                    error = UserNamespaceMaps.MapSubordinate(subordinate, Process.Id, uid, gid);
                }
                else
                {
                    UserNamespaceMaps.MapCallerToRoot(Process.Id, uid, gid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error = $"writing the user namespace's id maps: {e.Message}";
            }
            if (error is not null)
            {
                return null;
            }
        }
        if (!RunNative.Send(_socket.Fd, config.Encode()))
        {
            return null;
        }
        (string kind, string text) = Receive(buffer, out int fd);
        if (kind == InitMessage.Tun && fd >= 0)
        {
            try
            {
                // The host side negotiates the offloads (TSO, USO) on the adopted fd, each falling back on refusal.
                return TunDevice.FromFileDescriptor(fd, ownsHandle: true, tso: true, uso: true, logger: null);
            }
            catch (IOException e)
            {
                error = $"adopting the TUN device: {e.Message}";
                return null;
            }
        }
        if (fd >= 0)
        {
            _ = LinuxNative.Close(fd);
        }
        error = kind == InitMessage.Error ? text : null;
        return null;
    }

    /// <summary>Tells the init to go on (exec CMD, or exit with --attach); false when it is gone.</summary>
    public bool Go()
    {
        bool sent = RunNative.Send(_socket.Fd, InitMessage.Encode(InitMessage.Go));
        _socket.Dispose();
        return sent;
    }

    private (string Kind, string Text) Receive(byte[] buffer, out int fd)
    {
        fd = -1;
        if (!RunNative.WaitReadable(_socket.Fd, (int)s_initTimeout.TotalMilliseconds))
        {
            return ("", "");
        }
        int length = RunNative.Receive(_socket.Fd, buffer, out fd);
        return length <= 0 ? ("", "") : InitMessage.Decode(buffer.AsSpan(0, length));
    }

    /// <summary>How to start this program again: the apphost, or `dotnet NetStack.Cli.dll` when run through the muxer.</summary>
    internal static string[] SelfCommand()
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        return Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? [self, Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll")]
            : [self];
    }

    private static bool SameUserNamespace(int pid)
    {
        try
        {
            return File.ResolveLinkTarget($"/proc/{pid}/ns/user", false)?.ToString() == File.ResolveLinkTarget("/proc/self/ns/user", false)?.ToString();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // nsenter will say what is wrong
        }
    }

    /// <summary>Kills the namespace side if it is still running (a failed start) and closes the socket.</summary>
    public void Dispose()
    {
        _socket.Dispose();
        try
        {
            if (!Process.HasExited)
            {
                _ = RunNative.Kill(Process.Id, RunNative.SIGKILL);
                Process.WaitForExit();
            }
        }
        catch (InvalidOperationException)
        {
        }
        Process.Dispose();
    }
}
