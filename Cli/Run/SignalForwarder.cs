// `netstack run`: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to `netstack run` go to CMD (and do not end netstack,
// which ends when CMD does); with --attach they stop the run instead.
using System.Runtime.InteropServices;

namespace NetStack.Cli.Run;

/// <summary>Forwards termination signals to the sandbox's process while it runs.</summary>
internal sealed class SignalForwarder : IDisposable
{
    private readonly PosixSignalRegistration[] _registrations;
    private readonly ManualResetEventSlim _stop = new();
    private int _target;
    private int _pending;

    public SignalForwarder()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, Handle),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, Handle),
        ];
    }

    /// <summary>The process signals go to (0: none yet; one that arrived before is delivered when it is set).</summary>
    public int Target
    {
        get => Volatile.Read(ref _target);
        set
        {
            Volatile.Write(ref _target, value);
            if (Interlocked.Exchange(ref _pending, 0) is int signal and > 0)
            {
                _ = RunNative.Kill(value, signal);
            }
        }
    }

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true;
        _stop.Set();
        int signal = context.Signal switch
        {
            PosixSignal.SIGINT => RunNative.SIGINT,
            PosixSignal.SIGTERM => RunNative.SIGTERM,
            PosixSignal.SIGHUP => RunNative.SIGHUP,
            _ => RunNative.SIGQUIT,
        };
        if (signal is RunNative.SIGINT or RunNative.SIGQUIT && FromTerminal())
        {
            return; // the terminal sent it to the whole foreground process group: CMD has it already
        }
        int target = Target;
        if (target > 0)
        {
            _ = RunNative.Kill(target, signal);
        }
        else
        {
            Volatile.Write(ref _pending, signal);
        }
    }

    /// <summary>
    /// True when a terminal's foreground process group is ours (CMD shares it): Ctrl-C and Ctrl-\ reached CMD
    /// directly, and forwarding would deliver them twice (a second SIGINT often means "force").
    /// </summary>
    private static bool FromTerminal()
    {
        int group = RunNative.GetProcessGroup();
        for (int fd = 0; fd <= 2; fd++)
        {
            if (RunNative.TcGetProcessGroup(fd) == group)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>With --attach: waits until process <paramref name="pid"/> exits or a signal asks to stop; returns 0.</summary>
    public unsafe int WaitForExit(int pid, TextWriter error)
    {
        int pidfd = RunNative.PidFdOpen(pid);
        if (pidfd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != RunNative.ESRCH)
            {
                error.WriteLine($"netstack run: pidfd_open {pid}: {Link.Tun.LinuxNative.Describe(errno)}");
                return RunCommand.FailureStatus;
            }
            return 0; // gone already
        }
        try
        {
            while (!_stop.IsSet && !RunNative.WaitReadable(pidfd, 200))
            {
            }
            return 0;
        }
        finally
        {
            _ = Link.Tun.LinuxNative.Close(pidfd);
        }
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations)
        {
            registration.Dispose();
        }
        _stop.Dispose();
    }
}
