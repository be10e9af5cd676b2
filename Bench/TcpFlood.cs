// `Bench flood`: the connection table under a flood of completed handshakes from spoofed sources while a legitimate
// client connects once a second, and the acceptance rate of random ACKs with SYN cookies armed and disarmed — a
// deterministic run of one stack on a ManualClock (docs/ARCHITECTURE.md §6), printed as figures, never asserted.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Bench;

/// <summary>
/// <c>dotnet run -c Release --project Bench -- flood [--connections 100000] [--sources 1000] [--rate 1000] [--unprotected]
/// [--random-acks 1000000]</c>. The flood: each spoofed source (10.1.0.0/16) completes handshakes to a listener whose
/// application accepts and holds every connection; a client at 10.9.9.9 connects once a simulated second and
/// counts as served when its first SYN gets a SYN-ACK (a kernel client retransmits only after 1 s). With
/// <c>--unprotected</c> the per-address limits are off (the table as it was). Then random ACKs at a listener, before
/// and after its backlog overflowed.
/// </summary>
internal static class TcpFlood
{
    private const uint Server = 0x0A00_0002;  // 10.0.0.2
    private const uint Client = 0x0A09_0909;  // 10.9.9.9
    private static readonly IPAddress ClientAddress = IPAddress.Parse("10.9.9.9");

    public static int Run(string[] args)
    {
        int connections = 100_000, sources = 1000, rate = 1000;
        long randomAcks = 1_000_000;
        bool unprotected = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--connections": connections = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--sources": sources = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--rate": rate = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--random-acks": randomAcks = long.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--unprotected": unprotected = true; break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        Flood(connections, sources, rate, unprotected);
        RandomAcks(randomAcks);
        return 0;
    }

    private sealed class Rig : IDisposable
    {
        public Rig(TcpProtocolOptions tcp)
        {
            Pool = new PacketBufferPool(new PacketBufferPoolOptions(), "flood");
            Link = new ChannelEndpoint(new ChannelEndpointOptions { EnableGro = false, OutboundQueueCapacity = 1 << 16 });
            Stack = new NetworkStack(new NetworkStackOptions { TimeProvider = Clock, Pool = Pool, RandomSeed = 1, Tcp = tcp });
            Stack.CreateNic(Link).AddAddress(NetPrefix.Parse("10.0.0.2/8"));
        }

        public ManualClock Clock { get; } = new();

        public PacketBufferPool Pool { get; }

        public ChannelEndpoint Link { get; }

        public NetworkStack Stack { get; }

        public void Inject(uint source, TcpRepr tcp)
        {
            var ip = new Ipv4Repr { Source = source, Destination = Server, Protocol = IpProtocol.Tcp, TimeToLive = 64, Identification = 1, DontFragment = true, PayloadLength = tcp.BufferLength };
            Span<byte> bytes = stackalloc byte[ip.TotalLength];
            ip.Emit(bytes);
            Span<byte> segment = bytes[ip.HeaderLength..];
            tcp.Emit(segment);
            TcpHeader.WriteChecksum(segment, InternetChecksum.PseudoHeaderSumV4(bytes.Slice(12, 4), bytes.Slice(16, 4), (byte)IpProtocol.Tcp, segment.Length));
            PacketBuffer packet = Pool.RentCopy(bytes);
            packet.NetworkProtocol = NetworkProtocol.IPv4;
            Link.InjectInbound(packet);
        }

        /// <summary>Every segment the stack sent: (destination, destination port, flags, sequence number).</summary>
        public List<(uint To, ushort Port, TcpFlags Flags, uint Seq)> Drain()
        {
            var sent = new List<(uint, ushort, TcpFlags, uint)>();
            while (Link.Read() is { } packet)
            {
                byte[] bytes = packet.ToArray();
                packet.Release();
                ReadOnlySpan<byte> tcp = bytes.AsSpan((bytes[0] & 0xF) * 4);
                sent.Add((BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]), TcpHeader.GetFlags(tcp), TcpHeader.GetSequenceNumber(tcp)));
            }
            return sent;
        }

        public void Dispose()
        {
            Stack.Dispose();
        }
    }

    private static TcpRepr Segment(ushort sourcePort, uint seq, uint ack, TcpFlags flags) => new()
    {
        SourcePort = sourcePort,
        DestinationPort = 80,
        SequenceNumber = seq,
        AcknowledgmentNumber = ack,
        Flags = flags,
        WindowSize = 65535,
        MaxSegmentSize = (flags & TcpFlags.Syn) != 0 ? (ushort)1460 : null,
    };

    private static void Flood(int connections, int sources, int rate, bool unprotected)
    {
        var options = new TcpProtocolOptions { RandomSeed = 1 };
        if (unprotected)
        {
            options = options with { MaxConnectionsPerRemoteAddress = int.MaxValue, CrowdedConnectionsPerRemoteAddress = int.MaxValue };
        }
        using var rig = new Rig(options);
        TcpProtocol tcp = rig.Stack.Tcp;
        using TcpConnectionListener listener = tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 4096);
        var held = new List<TcpConnection>();
        var wall = Stopwatch.StartNew();
        int attempted = 0, legitTried = 0, legitServed = 0, maxTable = 0;
        ushort legitPort = 10000;
        const int StepsPerSecond = 100;
        int perStep = Math.Max(1, rate / StepsPerSecond);
        for (int step = 0; attempted < connections || step % StepsPerSecond != 0; step++)
        {
            for (int i = 0; i < perStep && attempted < connections; i++, attempted++)
            {
                uint source = 0x0A01_0000u + (uint)(attempted % sources) + 1;
                ushort port = (ushort)(1024 + (attempted / sources));
                rig.Inject(source, Segment(port, 1000, 0, TcpFlags.Syn));
            }
            if (step % StepsPerSecond == 0)
            {
                legitTried++;
                rig.Inject(Client, Segment(++legitPort, 5000, 0, TcpFlags.Syn));
            }
            foreach ((uint to, ushort port, TcpFlags flags, uint seq) in rig.Drain())
            {
                if (flags == (TcpFlags.Syn | TcpFlags.Ack))
                {
                    rig.Inject(to, Segment(port, to == Client ? 5001u : 1001u, seq + 1, TcpFlags.Ack));
                    if (to == Client)
                    {
                        legitServed++;
                    }
                }
            }
            rig.Drain();
            while (listener.TryAccept(out TcpConnection? c))
            {
                if (c.RemoteEndPoint.Address.Equals(ClientAddress))
                {
                    c.Abort(); // the client's exchange is over
                }
                else
                {
                    held.Add(c); // the application holds every flood connection, idle
                }
            }
            maxTable = Math.Max(maxTable, tcp.ConnectionCount);
            rig.Clock.Advance(TimeSpan.FromMilliseconds(1000 / StepsPerSecond));
        }
        Console.WriteLine($"flood{(unprotected ? " (per-address limits off)" : "")}: {attempted} handshakes from {sources} spoofed sources at {rate}/s over {attempted / rate} simulated s, wall {wall.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"  legitimate client: {legitServed} of {legitTried} connects answered on the first SYN (within 1 s)");
        Console.WriteLine($"  table: {tcp.ConnectionCount} held (max {maxTable}, limit {tcp.Options.MaxConnections}), held by the application {held.Count}");
        Console.WriteLine($"  refused: remote-address limit {tcp.Drops[TcpDropReason.RemoteAddressLimit]}, table full {tcp.Drops[TcpDropReason.TableFull]}, listen overflow {tcp.Drops[TcpDropReason.ListenOverflow]}; cookies sent {tcp.Events[TcpEvent.SynCookiesSent]}");
        foreach (TcpConnection c in held)
        {
            c.Abort();
        }
        rig.Drain();
    }

    private static void RandomAcks(long count)
    {
        using var rig = new Rig(new TcpProtocolOptions { RandomSeed = 1 });
        TcpProtocol tcp = rig.Stack.Tcp;
        using TcpConnectionListener listener = tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 1);
        var rng = new Random(1);
        (long Checked, long Accepted) Inject(long n, bool armed)
        {
            long checkedBefore = tcp.Drops[TcpDropReason.BadSynCookie], acceptedBefore = tcp.Events[TcpEvent.SynCookiesAccepted];
            for (long i = 0; i < n; i++)
            {
                rig.Inject(0x0A01_0000u + (uint)rng.Next(1, 65535), Segment((ushort)rng.Next(1024, 65536), (uint)rng.NextInt64(1L << 32), (uint)rng.NextInt64(1L << 32), TcpFlags.Ack));
                if ((i & 1023) == 0)
                {
                    rig.Drain();
                    rig.Clock.Advance(TimeSpan.FromMilliseconds(1)); // the RST budget per address refills
                }
                if (armed && (i & 0xFFFF) == 0 && i > 0)
                {
                    KeepArmed();
                }
            }
            rig.Drain();
            return (tcp.Drops[TcpDropReason.BadSynCookie] - checkedBefore, tcp.Events[TcpEvent.SynCookiesAccepted] - acceptedBefore);
        }
        void KeepArmed()
        {
            // Overflow the backlog of one: the second SYN is answered with a cookie, which arms the check for 2 minutes.
            rig.Inject(Client, Segment(1, 1, 0, TcpFlags.Syn));
            rig.Inject(Client, Segment(2, 1, 0, TcpFlags.Syn));
            rig.Drain();
        }
        var wall = Stopwatch.StartNew();
        (long disarmedChecked, long disarmedAccepted) = Inject(count, armed: false);
        KeepArmed();
        (long armedChecked, long armedAccepted) = Inject(count, armed: true);
        Console.WriteLine($"random ACKs at a listener ({count} each, wall {wall.Elapsed.TotalSeconds:F1} s):");
        Console.WriteLine($"  disarmed (no cookie sent in 128 s): {disarmedChecked} checked as cookies, {disarmedAccepted} accepted");
        Console.WriteLine($"  armed (backlog overflowed): {armedChecked} checked as cookies, {armedAccepted} accepted (expected {armedChecked / Math.Pow(2, 29):F4} at 2^-29 per guess)");
    }
}
