using System.Diagnostics;
using System.Runtime.InteropServices;
using NetStack.Link.Tun;

namespace NetStack.Tests.Interop;

/// <summary>
/// A fresh network namespace for one test, always removed on <see cref="Dispose"/> (with every process the test
/// started in it). The tests touch only addresses inside it (10.201.x.x / fd00:201::/64 on its TUN device).
/// </summary>
internal sealed partial class NetNs : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;
    private static int s_counter;
    private readonly List<Process> _processes = [];

    public NetNs()
    {
        Name = $"nstest-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}";
        Ip($"netns add {Name}");
        Ip($"-n {Name} link set lo up");
    }

    public string Name { get; }

    /// <summary>Runs `ip ARGS` (in the root namespace) and fails the test on a non-zero exit.</summary>
    public static string Ip(string arguments)
    {
        var (exit, output, error) = InteropEnvironment.Run("ip", arguments, TimeSpan.FromSeconds(20));
        Assert.True(exit == 0, $"ip {arguments}: exit {exit}: {error}");
        return output;
    }

    /// <summary>Runs a command inside the namespace to completion.</summary>
    public (int Exit, string Output, string Error) Exec(string command, TimeSpan? timeout = null, string? stdinFile = null) =>
        InteropEnvironment.Run("ip", $"netns exec {Name} {command}", timeout, stdinFile);

    /// <summary>Runs a shell command line inside the namespace to completion.</summary>
    public (int Exit, string Output, string Error) Shell(string commandLine, TimeSpan? timeout = null) =>
        InteropEnvironment.Run("ip", $"netns exec {Name} sh -c \"{commandLine.Replace("\"", "\\\"", StringComparison.Ordinal)}\"", timeout);

    /// <summary>Starts a command inside the namespace in the background; it is killed on <see cref="Dispose"/>.</summary>
    public Process Start(string command, bool redirectInput = false)
    {
        Process process = InteropEnvironment.StartProcess("ip", $"netns exec {Name} {command}", redirectInput);
        lock (_processes)
        {
            _processes.Add(process);
        }
        return process;
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread that has joined the namespace (setns), so a TUN device and
    /// the sockets for its ioctls are created inside it; the fds stay valid after the thread ends.
    /// </summary>
    public T InNamespace<T>(Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle($"/run/netns/{Name}");
                if (SetNs((int)ns.DangerousGetHandle(), CLONE_NEWNET) != 0)
                {
                    throw new IOException($"setns {Name}: errno {Marshal.GetLastPInvokeError()}");
                }
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException("in namespace " + Name, failure);
        }
        return result;
    }

    /// <summary>Opens a TUN device inside the namespace, sets its MTU and brings it up.</summary>
    public TunDevice OpenTun(string name, int mtu, bool offload) => InNamespace(() =>
    {
        TunDevice device = TunDevice.Open(name, offload, tso: true, uso: true);
        device.SetMtu(mtu);
        device.SetUp();
        return device;
    });

    public void Dispose()
    {
        lock (_processes)
        {
            foreach (Process process in _processes)
            {
                try
                {
                    if (!process.HasExited)
                    {
                        process.Kill(entireProcessTree: true);
                        process.WaitForExit(5000);
                    }
                }
                catch (InvalidOperationException)
                {
                }
                process.Dispose();
            }
        }
        _ = InteropEnvironment.Run("ip", $"netns del {Name}", TimeSpan.FromSeconds(20));
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);
}
