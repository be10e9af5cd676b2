// `Bench proxy`: the forwarder in one process, against the kernel's loopback in the same run: a sandbox stack on a
// live InMemoryNetwork → HostForwarder → a host loopback socket → a sink (up), and a host source → forwarder →
// the sandbox reading (down); then the same bytes over a plain loopback socket pair. Prints Gbit/s each way and
// bytes allocated per MiB relayed (the whole process: stacks, forwarder, sockets).
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Proxy;
using NetStack.Tcp;

namespace NetStack.Bench;

/// <summary>
/// <c>dotnet run -c Release --project Bench -- proxy [--mib 2048] [--mtu 65520] [--no-offload] [--alloc-types]</c>;
/// --no-offload turns the in-memory links' GSO and GRO off (every packet a wire packet of at most --mtu bytes);
/// --alloc-types samples the runtime's allocation ticks (one per ~100 KB allocated) during the proxy transfers and
/// prints the types.
/// </summary>
internal static class ProxyThroughput
{
    public static int Run(string[] args)
    {
        long mib = 2048;
        int mtu = 65520;
        bool allocTypes = false;
        bool offload = true;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--mib": mib = long.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--mtu": mtu = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--alloc-types": allocTypes = true; break;
                case "--no-offload": offload = false; break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        long bytes = mib << 20;
        (double kernel, _) = Kernel(bytes);
        using AllocationSampler? sampler = allocTypes ? new AllocationSampler() : null;
        (double up, double upAlloc, double down, double downAlloc) = Proxy(bytes, mtu, offload).GetAwaiter().GetResult();
        sampler?.Print();
        Console.WriteLine(FormattableString.Invariant($"kernel loopback      {kernel,7:F2} Gbit/s"));
        Console.WriteLine(FormattableString.Invariant($"proxy up (sandbox→host)   {up,7:F2} Gbit/s  {up / kernel:F2}× kernel  {upAlloc:F0} B allocated/MiB"));
        Console.WriteLine(FormattableString.Invariant($"proxy down (host→sandbox) {down,7:F2} Gbit/s  {down / kernel:F2}× kernel  {downAlloc:F0} B allocated/MiB"));
        return 0;
    }

    private static (double Gbps, double AllocPerMiB) Kernel(long bytes)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using Socket server = listener.Accept();
        Task sink = Task.Run(() => Drain(server, bytes));
        return Measure(bytes, () => { Fill(client, bytes); sink.GetAwaiter().GetResult(); });
    }

    private static async Task<(double, double, double, double)> Proxy(long bytes, int mtu, bool offload)
    {
        await using var network = new InMemoryNetwork(offload
            ? new InMemoryNetworkOptions { Mtu = mtu }
            : new InMemoryNetworkOptions { Mtu = mtu, Gso = GsoSupport.None, Gro = false });
        InMemoryHost sandbox = network.AddHost(), gateway = network.AddHost();
        await using var forwarder = new HostForwarder(gateway.Stack, new ProxyOptions
        {
            Gateways = [NetAddress.FromIPAddress(gateway.Ipv4)],
            AllowHostLoopback = true,
            Resolvers = [],
        });
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(2);
        var target = new IPEndPoint(gateway.Ipv4, ((IPEndPoint)listener.LocalEndPoint!).Port);

        Task<Socket> accepted = listener.AcceptAsync();
        TcpConnection upstream = await sandbox.Stack.Tcp.ConnectAsync(target);
        using Socket sinkSocket = await accepted;
        Task sink = Task.Run(() => Drain(sinkSocket, bytes));
        (double up, double upAlloc) = Measure(bytes, () =>
        {
            byte[] block = new byte[256 * 1024];
            for (long sent = 0; sent < bytes; sent += block.Length)
            {
                upstream.Write(block, 0, (int)Math.Min(block.Length, bytes - sent));
            }
            sink.GetAwaiter().GetResult();
        });
        await upstream.DisposeAsync();

        accepted = listener.AcceptAsync();
        TcpConnection downstream = await sandbox.Stack.Tcp.ConnectAsync(target);
        using Socket sourceSocket = await accepted;
        Task source = Task.Run(() => Fill(sourceSocket, bytes));
        (double down, double downAlloc) = Measure(bytes, () =>
        {
            byte[] block = new byte[256 * 1024];
            for (long received = 0; received < bytes;)
            {
                int n = downstream.Read(block, 0, block.Length);
                if (n == 0)
                {
                    throw new IOException("early end of stream");
                }
                received += n;
            }
            source.GetAwaiter().GetResult();
        });
        await downstream.DisposeAsync();
        Console.WriteLine(FormattableString.Invariant($"pool: {network.Pool.Misses} misses (chunks allocated), {network.Pool.Discards} discards (chunks past MaxRetained)"));
        Console.WriteLine(FormattableString.Invariant($"forwarder's stack: {gateway.Stack.Events[IpEvent.PacketsReceived]} packets received, {gateway.Stack.Events[IpEvent.PacketsSent]} sent"));
        return (up, upAlloc, down, downAlloc);
    }

    private static (double Gbps, double AllocPerMiB) Measure(long bytes, Action transfer)
    {
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        transfer();
        double seconds = clock.Elapsed.TotalSeconds;
        double perMiB = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)(bytes >> 20);
        return (bytes * 8 / seconds / 1e9, perMiB);
    }

    private static void Fill(Socket socket, long bytes)
    {
        byte[] block = new byte[256 * 1024];
        for (long sent = 0; sent < bytes;)
        {
            sent += socket.Send(block, 0, (int)Math.Min(block.Length, bytes - sent), SocketFlags.None);
        }
    }

    private static void Drain(Socket socket, long bytes)
    {
        byte[] block = new byte[256 * 1024];
        for (long received = 0; received < bytes;)
        {
            int n = socket.Receive(block);
            if (n == 0)
            {
                throw new IOException("early end of stream");
            }
            received += n;
        }
    }

    /// <summary>Counts the runtime's GCAllocationTick events (one per ~100 KB allocated) by type.</summary>
    private sealed class AllocationSampler : EventListener
    {
        private readonly Dictionary<string, int> _ticks = [];

        public void Print()
        {
            lock (_ticks)
            {
                foreach ((string type, int ticks) in _ticks.OrderByDescending(kv => kv.Value).Take(15))
                {
                    Console.WriteLine(FormattableString.Invariant($"alloc ~{ticks * 100,8} KB  {type}"));
                }
            }
        }

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick at verbose level
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName is { } name && name.StartsWith("GCAllocationTick", StringComparison.Ordinal) && e.PayloadNames is { } names)
            {
                int i = names.IndexOf("TypeName");
                string type = i >= 0 ? e.Payload![i] as string ?? "?" : "?";
                lock (_ticks)
                {
                    _ticks[type] = _ticks.GetValueOrDefault(type) + 1;
                }
            }
        }
    }
}
