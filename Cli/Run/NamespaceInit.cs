// `netstack run`: the namespace-side init, `netstack __run-init FD [PATH ARGV…]`, started inside the sandbox's
// namespaces by unshare(1) (or joined to an existing one by nsenter(1), see SandboxLauncher). It says hello, waits
// for the host to map its ids and send the config, creates the TUN device, sets MTU, addresses and routes over
// rtnetlink, brings lo and the device up, covers /etc/resolv.conf, hands the TUN fd to the host (SCM_RIGHTS), waits
// for "go" and execve's CMD. It runs before System.CommandLine is touched: its start-up is part of every run's.
using System.Runtime.InteropServices;
using System.Text;
using NetStack.Link.Tun;
using NetStack.Network;

namespace NetStack.Cli.Run;

/// <summary>The init inside the sandbox's namespaces.</summary>
internal static unsafe class NamespaceInit
{
    /// <summary>The hidden first argument that selects the init.</summary>
    public const string Verb = "__run-init";

    /// <summary>True when <paramref name="args"/> start the init (Program.Main checks this first).</summary>
    public static bool IsInit(string[] args) => args.Length >= 2 && args[0] == Verb;

    /// <summary>Runs the init: returns only on failure (or, with --attach, after handing over the device).</summary>
    public static int Run(string[] args)
    {
        if (!int.TryParse(args[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int socket))
        {
            return RunCommand.FailureStatus;
        }
        _ = RunNative.SetCloseOnExec(socket, true);
        byte[] buffer = new byte[InitMessage.MaxLength];
        if (!RunNative.Send(socket, InitMessage.Encode(InitMessage.Hello)))
        {
            return RunCommand.FailureStatus;
        }
        int length = RunNative.Receive(socket, buffer, out int stray);
        CloseStray(stray);
        if (length <= 0)
        {
            return RunCommand.FailureStatus; // the host is gone
        }
        InitConfig config;
        try
        {
            config = InitConfig.Decode(buffer.AsSpan(0, length));
        }
        catch (Exception e) when (e is FormatException or KeyNotFoundException or OverflowException)
        {
            _ = RunNative.Send(socket, InitMessage.Encode(InitMessage.Error, $"the init could not read its config: {e.Message}"));
            return RunCommand.FailureStatus;
        }
        if (config.ParentPid != 0)
        {
            // CMD dies with `netstack run` (the thread that forked us is the host's main thread, alive until it exits).
            _ = RunNative.Prctl(RunNative.PR_SET_PDEATHSIG, RunNative.SIGKILL, 0, 0, 0);
            if (RunNative.GetParentPid() != config.ParentPid)
            {
                return RunCommand.FailureStatus;
            }
        }
        TunDevice device;
        try
        {
            device = SetUp(config);
        }
        catch (IOException e)
        {
            _ = RunNative.Send(socket, InitMessage.Encode(InitMessage.Error, e.Message));
            return RunCommand.FailureStatus;
        }
        bool sent = RunNative.Send(socket, InitMessage.Encode(InitMessage.Tun, device.Name), device.Handle.Fd);
        device.Dispose();
        if (!sent)
        {
            return RunCommand.FailureStatus;
        }
        length = RunNative.Receive(socket, buffer, out stray);
        CloseStray(stray);
        _ = Link.Tun.LinuxNative.Close(socket);
        if (length <= 0 || InitMessage.Decode(buffer.AsSpan(0, length)).Kind != InitMessage.Go)
        {
            return RunCommand.FailureStatus;
        }
        return args.Length > 2 ? Exec(args[2], args[3..]) : 0;
    }

    private static void CloseStray(int fd)
    {
        if (fd >= 0)
        {
            _ = Link.Tun.LinuxNative.Close(fd);
        }
    }

    /// <summary>Creates and configures the TUN device; throws <see cref="IOException"/> with the text for the user.</summary>
    private static TunDevice SetUp(InitConfig config)
    {
        TunDevice device = OpenTun(config);
        try
        {
            int index = (int)RunNative.InterfaceIndex(device.Name);
            int loopback = (int)RunNative.InterfaceIndex("lo");
            using var netlink = new RtNetlink();
            if (loopback > 0)
            {
                netlink.SetUp(loopback, 0, "bring lo up");
            }
            netlink.SetUp(index, config.Mtu, $"set {device.Name} mtu {config.Mtu} and up");
            netlink.AddAddress(index, config.Sandbox4);
            netlink.AddDefaultRoute(index, config.Gateway4);
            if (config.Sandbox6 is { } sandbox6 && config.Gateway6 is { } gateway6)
            {
                try
                {
                    netlink.AddAddress(index, sandbox6);
                    netlink.AddDefaultRoute(index, gateway6);
                }
                catch (IOException e) when (e.HResult is RunNative.EAFNOSUPPORT or RunNative.EACCES or Link.Tun.LinuxNative.EPERM)
                {
                    throw new IOException($"{e.Message}: IPv6 is not available in the namespace (disabled by ipv6.disable or net.ipv6.conf.default.disable_ipv6?); run with --no-ipv6", e.HResult);
                }
            }
            if (config.ResolvConf)
            {
                CoverResolvConf(config.Dns);
            }
            return device;
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    private static TunDevice OpenTun(InitConfig config)
    {
        try
        {
            // Offloads are negotiated by the host side when it adopts the fd; here only the header is asked for.
            return TunDevice.Open(config.TunName, config.Offload, tso: false, uso: false);
        }
        catch (IOException e) when (config.Offload && e.HResult == Link.Tun.LinuxNative.EINVAL)
        {
            return TunDevice.Open(config.TunName, vnetHeader: false, tso: false, uso: false);
        }
        catch (IOException e)
        {
            throw new IOException(RunDiagnostics.ExplainTunError(e, config.TunName), e.HResult);
        }
    }

    /// <summary>
    /// Bind-mounts a resolv.conf naming <paramref name="servers"/> over /etc/resolv.conf, in this mount namespace only
    /// (unshare(1) made its propagation private). The file lives on a small tmpfs mounted over /tmp for the moment
    /// of the bind and detached right after: nothing is left anywhere (a memfd cannot be a bind source: EINVAL).
    /// A failure is a warning: CMD still runs, with the host's resolv.conf.
    /// </summary>
    private static void CoverResolvConf(IReadOnlyList<NetAddress> servers)
    {
        const string Staging = "/tmp";
        const ulong MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8;
        string? failure = null;
        if (RunNative.Mount("tmpfs", Staging, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0755") != 0)
        {
            failure = $"mount tmpfs on {Staging}: {Link.Tun.LinuxNative.Describe(Marshal.GetLastPInvokeError())}";
        }
        else
        {
            try
            {
                var text = new StringBuilder("# netstack run: the sandbox's resolver (the host's is covered in this mount namespace only)\n");
                foreach (NetAddress server in servers)
                {
                    text.Append("nameserver ").Append(server).Append('\n');
                }
                File.WriteAllText(Staging + "/resolv.conf", text.ToString());
                if (RunNative.Mount(Staging + "/resolv.conf", "/etc/resolv.conf", null, RunNative.MS_BIND, null) != 0)
                {
                    failure = $"bind-mount over /etc/resolv.conf: {Link.Tun.LinuxNative.Describe(Marshal.GetLastPInvokeError())}";
                }
            }
            catch (IOException e)
            {
                failure = e.Message;
            }
            _ = RunNative.Umount2(Staging, RunNative.MNT_DETACH);
        }
        if (failure is not null)
        {
            WriteError($"netstack run: warning: the sandbox keeps the host's /etc/resolv.conf ({failure})\n");
        }
    }

    /// <summary>
    /// execve's CMD with this process's environment. Before that, what the .NET runtime changed and CMD must not
    /// inherit is put back: SIGPIPE ignored by the runtime goes back to the default, the signal mask is emptied, and the
    /// ambient capabilities unshare --keep-caps gave are cleared (CMD, root in its namespace, gets its capabilities
    /// from that). A file the kernel cannot execute (ENOEXEC: a script without #!) runs under /bin/sh, as a shell
    /// runs it. Returns only on failure, with a shell's status: 127 not found, 126 not executable.
    /// </summary>
    private static int Exec(string path, string[] argv)
    {
        byte** nativeArgv = stackalloc byte*[argv.Length + 1];
        for (int i = 0; i < argv.Length; i++)
        {
            nativeArgv[i] = (byte*)Marshal.StringToCoTaskMemUTF8(argv[i]);
        }
        nativeArgv[argv.Length] = null;
        byte* nativePath = (byte*)Marshal.StringToCoTaskMemUTF8(path);
        byte** environment = *(byte***)NativeLibrary.GetExport(NativeLibrary.GetMainProgramHandle(), "environ");
        _ = RunNative.Signal(RunNative.SIGPIPE, 0); // SIG_DFL
        ulong* empty = stackalloc ulong[16]; // a whole sigset_t (glibc copies all 128 bytes)
        new Span<ulong>(empty, 16).Clear();
        _ = RunNative.SigProcMask(2, empty, null); // SIG_SETMASK
        _ = RunNative.Prctl(RunNative.PR_CAP_AMBIENT, RunNative.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        _ = RunNative.Execve(nativePath, nativeArgv, environment);
        int errno = Marshal.GetLastPInvokeError();
        if (errno == RunNative.ENOEXEC)
        {
            byte** shellArgv = stackalloc byte*[argv.Length + 2];
            shellArgv[0] = (byte*)Marshal.StringToCoTaskMemUTF8("sh");
            shellArgv[1] = nativePath;
            for (int i = 1; i <= argv.Length; i++)
            {
                shellArgv[i + 1] = nativeArgv[i];
            }
            _ = RunNative.Execve((byte*)Marshal.StringToCoTaskMemUTF8("/bin/sh"), shellArgv, environment);
            errno = Marshal.GetLastPInvokeError();
        }
        WriteError($"netstack run: {argv[0]}: {Link.Tun.LinuxNative.Describe(errno)}\n");
        return errno == RunNative.ENOENT ? 127 : 126;
    }

    /// <summary>Writes to standard error without System.Console (which the init need not load).</summary>
    public static void WriteError(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        fixed (byte* data = bytes)
        {
            _ = Link.Tun.LinuxNative.Write(2, data, (nuint)bytes.Length);
        }
    }
}
