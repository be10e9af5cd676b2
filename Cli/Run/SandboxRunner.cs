// `netstack run`: one run from start to teardown: checks that fail fast (CMD, user namespaces, /dev/net/tun,
// --uid-map's tools), the namespace side (SandboxLauncher), the stack over the TUN fd it hands over, then CMD's life:
// SIGINT/SIGTERM/SIGHUP/SIGQUIT forwarded, its exit status returned, everything disposed.
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using NetStack.Link.Tun;

namespace NetStack.Cli.Run;

/// <summary>Runs CMD in a sandbox (or networks an existing one with --attach).</summary>
internal static class SandboxRunner
{
    /// <summary>What runs on the stack: the forwarder, relaying the sandbox's flows to host sockets.</summary>
    public static ISandboxStackFactory StackFactory { get; set; } = new ProxySandboxStack();

    /// <summary>Runs to the end; returns CMD's exit status (128 + signal when it was killed), 125 when the run failed itself.</summary>
    public static int Run(RunOptions options, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(error);
        if (Preflight(options, error, out string? commandPath, out SubordinateMapPlan? subordinate) is int status)
        {
            return status;
        }
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var forwarder = new SignalForwarder();
        using ILoggerFactory logging = new StandardErrorLoggerFactory(CliLogging.Level ?? LogLevel.Warning);
        using SandboxLauncher? launcher = SandboxLauncher.Start(options, commandPath, out string? failure);
        if (launcher is null)
        {
            return Fail(error, failure!);
        }
        forwarder.Target = launcher.Process.Id;
        var config = new InitConfig
        {
            TunName = options.TunName,
            Mtu = options.Mtu,
            Offload = options.Offload,
            Sandbox4 = options.Addresses.Sandbox4,
            Gateway4 = options.Addresses.Gateway4,
            Sandbox6 = options.Addresses.Ipv6 ? options.Addresses.Sandbox6 : null,
            Gateway6 = options.Addresses.Ipv6 ? options.Addresses.Gateway6 : null,
            Dns = options.Addresses.Ipv6 ? [options.Addresses.Dns4, options.Addresses.Dns6] : [options.Addresses.Dns4],
            ResolvConf = options.AttachPid is null,
            ParentPid = options.AttachPid is null ? Environment.ProcessId : 0,
        };
        long spawned = System.Diagnostics.Stopwatch.GetTimestamp();
        TunDevice? device = launcher.Handshake(config, subordinate, mapIds: options.AttachPid is null, out failure);
        if (device is null)
        {
            launcher.Process.WaitForExit(TimeSpan.FromSeconds(5));
            return Fail(error, failure ?? StartFailure(options, launcher.Process));
        }
        long handedOver = System.Diagnostics.Stopwatch.GetTimestamp();
        ISandboxStack stack;
        try
        {
            stack = StackFactory.Start(device, options, logging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            return Fail(error, $"starting the stack: {e.Message}");
        }
        int exit;
        try
        {
            long stackStarted = System.Diagnostics.Stopwatch.GetTimestamp();
            if (!launcher.Go())
            {
                return Fail(error, "the namespace side ended before CMD started");
            }
            if (options.Stats)
            {
                using var self = System.Diagnostics.Process.GetCurrentProcess();
                double beforeRun = (DateTime.Now - self.StartTime).TotalMilliseconds - System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                error.WriteLine($"start-up: .NET and the command line {beforeRun:F0} ms, spawn {Ms(started, spawned)} ms, "
                    + $"namespace side (init start, TUN, addresses) {Ms(spawned, handedOver)} ms, stack {Ms(handedOver, stackStarted)} ms");
            }
            launcher.Process.WaitForExit();
            exit = launcher.Process.ExitCode;
            if (options.AttachPid is int pid)
            {
                exit = exit != 0 ? Fail(error, $"networking process {pid} failed (exit {exit})") : forwarder.WaitForExit(pid, error);
            }
        }
        finally
        {
            if (options.Stats)
            {
                error.WriteLine(stack.DescribeCounters());
            }
            stack.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        error.Flush();
        return exit;
    }

    /// <summary>What can be checked before any namespace exists; a status when the run cannot go on.</summary>
    private static int? Preflight(RunOptions options, TextWriter error, out string? commandPath, out SubordinateMapPlan? subordinate)
    {
        commandPath = null;
        subordinate = null;
        if (options.AttachPid is null)
        {
            commandPath = CommandLookup.Find(options.Command[0], Environment.GetEnvironmentVariable("PATH"), out int status, out string? notFound);
            if (commandPath is null)
            {
                error.WriteLine($"netstack run: {notFound}");
                return status;
            }
            if (RunDiagnostics.UserNamespacesDisabled() is { } disabled)
            {
                return Fail(error, disabled);
            }
        }
        else if (!Directory.Exists($"/proc/{options.AttachPid}"))
        {
            return Fail(error, $"--attach {options.AttachPid}: no such process");
        }
        if (!File.Exists("/dev/net/tun"))
        {
            return Fail(error, RunDiagnostics.ExplainTunError(new IOException("open /dev/net/tun: No such file or directory", RunNative.ENOENT), options.TunName));
        }
        if (RunNative.Access("/dev/net/tun", 6) != 0) // R_OK | W_OK, as the real (unmapped) user
        {
            int errno = Marshal.GetLastPInvokeError();
            return Fail(error, RunDiagnostics.ExplainTunError(new IOException($"open /dev/net/tun: {LinuxNative.Describe(errno)}", errno), options.TunName));
        }
        if (options.SubordinateIdMap && options.AttachPid is null)
        {
            subordinate = UserNamespaceMaps.Plan(Environment.UserName, RunNative.GetUid(), RunNative.GetGid(), out string? missing);
            if (subordinate is null)
            {
                return Fail(error, missing!);
            }
        }
        return null;
    }

    /// <summary>Why the namespace side ended without a word: user namespaces, or what unshare/nsenter printed.</summary>
    private static string StartFailure(RunOptions options, System.Diagnostics.Process process)
    {
        string exit = process.HasExited ? $"exit {process.ExitCode}" : "no answer";
        if (options.AttachPid is int pid)
        {
            return $"could not enter the namespaces of process {pid} ({exit}; nsenter's message above says why): it must be yours, in a user namespace you created";
        }
        return RunDiagnostics.UserNamespacesDisabled()
            ?? $"could not create the namespaces ({exit}; unshare's message above says why): user namespaces may be disabled or blocked (seccomp in a container?)";
    }

    private static long Ms(long from, long to) => (long)System.Diagnostics.Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"netstack run: {message}");
        error.Flush();
        return RunCommand.FailureStatus;
    }
}
