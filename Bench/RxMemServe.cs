// `Bench rxmem-serve` and `Bench flood-serve`: issue 14's measured goals against `netstack serve` itself on a TUN
// in a network namespace (root), driven by forged packets from a raw socket (Tests/Interop/RawPeer.cs): RSS growth
// while peers send 1-byte segments into connections that do not read, and legitimate connects under a handshake
// flood from spoofed sources.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using NetStack.Tests.Interop;
using NetStack.Wire;

namespace NetStack.Bench;

/// <summary>
/// <c>rxmem-serve --serve "dotnet Cli/bin/Release/net10.0/NetStack.Cli.dll" [--connections 100] [--serve-args "..."]</c>:
/// N connections from a spoofed address to serve's echo port, each advertising a zero window (it never reads what is
/// echoed, so the service's writes block and it stops reading), are fed 1-byte in-order segments up to the edge each
/// ACK shows until every window is shut; serve's VmRSS/VmHWM (/proc/PID/status) before and after.
/// <c>flood-serve --serve "..." [--handshakes 100000] [--sources 1000] [--rate 1000]</c>: completed handshakes to
/// serve's HTTP port from spoofed sources at a rate while a kernel socket in the namespace connects once a second.
/// </summary>
internal static partial class RxMemServe
{
    private const string Device = "nsbench0";
    private static readonly IPAddress Kernel = IPAddress.Parse("10.202.0.1");
    private static readonly IPAddress Serve = IPAddress.Parse("10.202.0.2");

    public static int RunMemory(string[] args) => Run(args, memory: true);

    public static int RunFlood(string[] args) => Run(args, memory: false);

    private static int Run(string[] args, bool memory)
    {
        string? serve = null;
        string serveArgs = "";
        int connections = 100, handshakes = 100_000, sources = 1000, rate = 1000;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string value = args[i + 1];
            switch (args[i])
            {
                case "--serve": serve = value; break;
                case "--serve-args": serveArgs = value; break;
                case "--connections": connections = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--handshakes": handshakes = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--sources": sources = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--rate": rate = int.Parse(value, CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }
        if (serve is null)
        {
            Console.Error.WriteLine("--serve \"<command that runs netstack>\" is required, e.g. \"dotnet Cli/bin/Release/net10.0/NetStack.Cli.dll\"");
            return 2;
        }
        string ns = $"nsbench-{Environment.ProcessId}";
        Sh("ip", $"netns add {ns}");
        Process? server = null;
        // Ctrl-C or SIGTERM still stops serve and removes the namespace.
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            Cleanup(server, ns);
            Environment.Exit(130);
        }
        try
        {
            Sh("ip", $"-n {ns} link set lo up");
            Sh("ip", $"-n {ns} tuntap add dev {Device} mode tun");
            Sh("ip", $"-n {ns} link set {Device} txqueuelen 65536"); // the TUN's queue toward serve: room for bursts
            Sh("ip", $"-n {ns} addr add {Kernel}/16 dev {Device}");
            server = Process.Start(new ProcessStartInfo("ip", $"netns exec {ns} {serve} serve --tun {Device} --address {Serve}/16 --idle-timeout 0 {serveArgs}")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            string? line;
            while ((line = server.StandardOutput.ReadLine()) is not null && !line.EndsWith("; ready", StringComparison.Ordinal))
            {
            }
            if (line is null)
            {
                Console.Error.WriteLine("serve ended before it was ready: " + server.StandardError.ReadToEnd());
                return 1;
            }
            Console.WriteLine(line);
            Task<string> counters = server.StandardOutput.ReadToEndAsync(); // serve prints its counters on SIGTERM
            Thread.Sleep(2000); // let it settle (JIT, pools)
            int result;
            using (RawPeer peer = RawPeer.Open(ns, Device))
            {
                result = memory ? MeasureMemory(peer, server.Id, connections) : MeasureFlood(peer, ns, server.Id, handshakes, sources, rate);
            }
            _ = Process.Start("kill", $"-TERM {server.Id}")?.WaitForExit(5000);
            if (server.WaitForExit(30_000))
            {
                Console.WriteLine(counters.Result);
            }
            return result;
        }
        finally
        {
            Cleanup(server, ns);
        }
    }

    private static void Cleanup(Process? server, string ns)
    {
        if (server is not null && !server.HasExited)
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit(10_000);
        }
        _ = Process.Start("ip", $"netns del {ns}")?.WaitForExit(10_000);
    }

    private sealed class Flow
    {
        public ushort Port;
        public uint Iss;       // serve's ISS
        public uint Next;      // next byte we send
        public uint Acked;     // serve's cumulative ACK
        public uint Edge;      // Acked + window
        public int Scale;
        public bool Open;
        public long LastProgress;
    }

    private static int MeasureMemory(RawPeer peer, int pid, int connections)
    {
        IPAddress source = IPAddress.Parse("10.202.1.1");
        uint us = RawPeer.V4(source);
        const uint PeerIss = 1000;
        var flows = new Flow[connections];
        var byPort = new Dictionary<ushort, Flow>();
        for (int c = 0; c < connections; c++)
        {
            flows[c] = new Flow { Port = (ushort)(20000 + c), Next = PeerIss + 1, Acked = PeerIss + 1 };
            byPort[flows[c].Port] = flows[c];
        }
        (long rss0, long hwm0) = Status(pid);
        var clock = Stopwatch.StartNew();
        byte[] buffer = new byte[70000];
        byte[] one = "x"u8.ToArray();
        // Handshakes (window 0 from the start: nothing echoed is ever sent).
        foreach (Flow f in flows)
        {
            peer.SendTcp(source, Serve, new TcpRepr { SourcePort = f.Port, DestinationPort = 7, SequenceNumber = PeerIss, Flags = TcpFlags.Syn, WindowSize = 0, MaxSegmentSize = 1460, WindowScale = 7, SackPermitted = true });
        }
        // Segments in flight per connection: serve delays its ACKs for segments smaller than a full one (as Linux
        // does), so the window, not the ACK clock, must set the pace; all of them together stay under the TUN's queue.
        int inFlight = Math.Max(64, 32768 / connections);
        long lastAny = Environment.TickCount64, lastReport = lastAny;
        while (Environment.TickCount64 - lastAny < 3000)
        {
            long now = Environment.TickCount64;
            if (now - lastReport >= 5000)
            {
                lastReport = now;
                Console.WriteLine($"  {clock.Elapsed.TotalSeconds:F0} s: payload accepted {flows.Sum(f => (long)(f.Acked - (PeerIss + 1)))} B, open {flows.Count(f => f.Open)}, shut {flows.Count(f => f.Open && f.Edge == f.Acked)}, VmRSS {Status(pid).Rss >> 10} KiB");
            }
            foreach (Flow f in flows)
            {
                if (!f.Open)
                {
                    continue;
                }
                if (now - f.LastProgress > 300 && (int)(f.Next - f.Acked) > 0)
                {
                    f.Next = f.Acked; // go back: segments were lost in a queue
                    f.LastProgress = now;
                }
                while ((int)(f.Edge - f.Next) > 0 && (int)(f.Next - f.Acked) < inFlight)
                {
                    peer.SendTcp(source, Serve, new TcpRepr { SourcePort = f.Port, DestinationPort = 7, SequenceNumber = f.Next, AcknowledgmentNumber = f.Iss + 1, Flags = TcpFlags.Ack | TcpFlags.Psh, WindowSize = 0 }, one);
                    f.Next++;
                }
            }
            int n;
            while ((n = peer.Receive(buffer, 1)) > 0)
            {
                if (!RawPeer.TryParseTcp(buffer.AsSpan(0, n), out _, out uint destination, out TcpRepr tcp, out _) || destination != us
                    || !byPort.TryGetValue(tcp.DestinationPort, out Flow? f) || (tcp.Flags & TcpFlags.Rst) != 0)
                {
                    continue;
                }
                if ((tcp.Flags & TcpFlags.Syn) != 0)
                {
                    if (!f.Open)
                    {
                        f.Iss = tcp.SequenceNumber;
                        f.Scale = tcp.WindowScale ?? 0;
                        f.Acked = tcp.AcknowledgmentNumber;
                        f.Edge = tcp.AcknowledgmentNumber + tcp.WindowSize; // a SYN-ACK's window is not scaled
                        f.Open = true;
                        f.LastProgress = Environment.TickCount64;
                        peer.SendTcp(source, Serve, new TcpRepr { SourcePort = f.Port, DestinationPort = 7, SequenceNumber = PeerIss + 1, AcknowledgmentNumber = f.Iss + 1, Flags = TcpFlags.Ack, WindowSize = 0 });
                        lastAny = Environment.TickCount64;
                    }
                    continue;
                }
                if (f.Open && (tcp.Flags & TcpFlags.Ack) != 0 && (int)(tcp.AcknowledgmentNumber - f.Acked) >= 0)
                {
                    uint edge = tcp.AcknowledgmentNumber + ((uint)tcp.WindowSize << f.Scale);
                    if (tcp.AcknowledgmentNumber != f.Acked || edge != f.Edge)
                    {
                        f.LastProgress = lastAny = Environment.TickCount64;
                    }
                    f.Acked = tcp.AcknowledgmentNumber;
                    f.Edge = edge;
                    if ((int)(f.Next - f.Acked) < 0)
                    {
                        f.Next = f.Acked;
                    }
                }
            }
        }
        long payload = flows.Sum(f => (long)(f.Acked - (PeerIss + 1)));
        int open = flows.Count(f => f.Open);
        int shut = flows.Count(f => f.Open && f.Edge == f.Acked);
        (long rss1, long hwm1) = Status(pid);
        Console.WriteLine($"connections {open} (window shut on {shut}), payload accepted {payload} B ({(open == 0 ? 0 : payload / open)} B each), {clock.Elapsed.TotalSeconds:F1} s, {peer.SendRetries} send retries");
        Console.WriteLine($"serve VmRSS {rss0 >> 10} -> {rss1 >> 10} KiB: growth {(rss1 - rss0) / (double)(1 << 20):F1} MiB = {(double)(rss1 - rss0) / Math.Max(1, payload):F2} B per payload byte");
        Console.WriteLine($"serve VmHWM {hwm0 >> 10} -> {hwm1 >> 10} KiB: growth {(hwm1 - hwm0) / (double)(1 << 20):F1} MiB");
        return 0;
    }

    private static int MeasureFlood(RawPeer peer, string ns, int pid, int handshakes, int sources, int rate)
    {
        using var stop = new CancellationTokenSource();
        int completed = 0;
        var responder = new Thread(() =>
        {
            using RawPeer answer = RawPeer.Open(ns, Device);
            completed = answer.CompleteSpoofedHandshakes(Kernel, stop.Token);
        });
        responder.Start();
        var connects = new List<double>();
        var slow = new List<string>();
        int failed = 0;
        var clock = Stopwatch.StartNew();
        var legitimate = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                Thread.Sleep(1000);
                double at = clock.Elapsed.TotalSeconds;
                double seconds = ConnectFromNamespace(ns, out bool ok);
                lock (connects)
                {
                    connects.Add(seconds);
                    failed += ok ? 0 : 1;
                    if (!ok || seconds >= 1.0)
                    {
                        slow.Add($"{(ok ? $"{seconds * 1000:F0} ms" : "failed")} at {at:F0} s");
                    }
                }
            }
        });
        legitimate.Start();
        for (int sent = 0; sent < handshakes; sent++)
        {
            // Paced: handshake k goes at k / rate seconds.
            long due = (long)(sent * 1000.0 / rate);
            while (clock.ElapsedMilliseconds < due)
            {
                Thread.Sleep(1);
            }
            int s = sent % sources;
            var source = new IPAddress([10, 202, (byte)(16 + s / 250), (byte)(1 + s % 250)]);
            peer.SendTcp(source, Serve, new TcpRepr
            {
                SourcePort = (ushort)(1024 + sent / sources % 60000),
                DestinationPort = 80,
                SequenceNumber = (uint)sent * 7919,
                Flags = TcpFlags.Syn,
                WindowSize = 65535,
                MaxSegmentSize = 1460,
            });
        }
        Thread.Sleep(2000);
        stop.Cancel();
        responder.Join();
        legitimate.Join();
        (long rss, long hwm) = Status(pid);
        connects.Sort();
        Console.WriteLine($"flood: {handshakes} handshakes from {sources} spoofed sources at {rate}/s in {clock.Elapsed.TotalSeconds:F1} s, {completed} SYN-ACKs answered, {peer.SendRetries} send retries");
        Console.WriteLine($"legitimate connects: {connects.Count}, failed {failed}, within 1 s {connects.Count(c => c < 1.0)}, median {connects[connects.Count / 2] * 1000:F1} ms, max {connects[^1] * 1000:F1} ms{(slow.Count > 0 ? "; over 1 s: " + string.Join(", ", slow) : "")}");
        Console.WriteLine($"serve VmRSS {rss >> 10} KiB, VmHWM {hwm >> 10} KiB");
        return 0;
    }

    /// <summary>A kernel TCP connect from inside the namespace to serve's HTTP port; its time in seconds (3 s cap).</summary>
    private static double ConnectFromNamespace(string ns, out bool ok)
    {
        double seconds = 3;
        bool connected = false;
        var thread = new Thread(() =>
        {
            using (Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle($"/run/netns/{ns}"))
            {
                if (SetNs((int)handle.DangerousGetHandle(), 0x40000000) != 0)
                {
                    return;
                }
            }
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var clock = Stopwatch.StartNew();
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                socket.ConnectAsync(new IPEndPoint(Serve, 80), cts.Token).AsTask().GetAwaiter().GetResult();
                seconds = clock.Elapsed.TotalSeconds;
                connected = true;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
            }
        });
        thread.Start();
        thread.Join();
        ok = connected;
        return seconds;
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);

    private static (long Rss, long Hwm) Status(int pid)
    {
        long rss = 0, hwm = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kib(line) << 10;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                hwm = Kib(line) << 10;
            }
        }
        return (rss, hwm);

        static long Kib(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    private static void Sh(string file, string arguments)
    {
        using Process process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {arguments}: {error}");
        }
    }
}
