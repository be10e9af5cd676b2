// `Bench rxmem`: what a peer pins by sending 1-byte segments into connections whose application never reads,
// until each window closes (issue 14 item 1). One stack over a ChannelEndpoint, as serve's TUN hands it
// packets (each read into its own pooled MTU-sized buffer); the peer is played here with crafted segments.
using System.Diagnostics;
using System.Net;
using NetStack.Buffers;
using NetStack.Link.Channels;
using NetStack.Checksums;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Bench;

/// <summary>
/// Opens N connections to a listener nobody reads from and floods each with 1-byte in-order segments, sending
/// up to the edge each ACK shows, until the window is shut; reports accepted payload, RSS and managed-heap
/// growth and the bytes pinned per payload byte.
/// </summary>
internal static class ReceiveMemory
{
    private static readonly uint PeerAddress = 0x0A000001; // 10.0.0.1
    private static readonly uint OurAddress = 0x0A000002;  // 10.0.0.2

    public static int Run(string[] args)
    {
        int connections = 100;
        int buffer = 128 * 1024; // serve's default --receive-buffer
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--connections":
                    connections = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "--buffer":
                    buffer = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "rxmem");
        var link = new ChannelEndpoint(new ChannelEndpointOptions { EnableGro = false, Mtu = 1500, OutboundQueueCapacity = 1 << 16 });
        var connectionOptions = new TcpConnectionOptions { ReceiveBufferSize = buffer };
        using var stack = new NetworkStack(new NetworkStackOptions { Pool = pool, Tcp = new TcpProtocolOptions { Connection = connectionOptions } });
        Nic nic = stack.CreateNic(link);
        nic.AddAddress(NetPrefix.Parse("10.0.0.2/24"));
        using TcpConnectionListener listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 9), connections);
        var held = new List<TcpConnection>();

        (long rss0, long heap0) = Measure();
        long payload = 0;
        var clock = Stopwatch.StartNew();
        for (int c = 0; c < connections; c++)
        {
            payload += Flood(link, pool, (ushort)(20000 + c), buffer);
            while (listener.TryAccept(out TcpConnection? accepted))
            {
                held.Add(accepted!); // accepted, never read
            }
        }
        (long rss1, long heap1) = Measure();
        double rssPerByte = (double)(rss1 - rss0) / payload;
        double heapPerByte = (double)(heap1 - heap0) / payload;
        Console.WriteLine($"connections {held.Count}, receive buffer {buffer} B, payload accepted {payload} B ({payload / held.Count} B each), {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"RSS growth {(rss1 - rss0) / (1 << 20):F1} MiB = {rssPerByte:F2} B per payload byte");
        Console.WriteLine($"managed heap growth {(heap1 - heap0) / (1 << 20):F1} MiB = {heapPerByte:F2} B per payload byte");
        Console.WriteLine($"live packet buffers {pool.LiveBuffers}, live chunks {pool.LiveChunks}");
        Console.WriteLine($"tcp drops: {stack.Tcp.Drops}");
        Console.WriteLine($"tcp events: {stack.Tcp.Events}");
        foreach (TcpConnection connection in held)
        {
            connection.Abort();
        }
        return 0;
    }

    private static (long Rss, long Heap) Measure()
    {
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        using var self = Process.GetCurrentProcess();
        return (self.WorkingSet64, heap);
    }

    /// <summary>Handshake from <paramref name="port"/>, then 1-byte segments up to the advertised edge until it stops moving. Returns the bytes accepted.</summary>
    private static long Flood(ChannelEndpoint link, PacketBufferPool pool, ushort port, int most)
    {
        const uint peerIss = 1000;
        Inject(link, pool, new TcpRepr { SourcePort = port, DestinationPort = 9, SequenceNumber = peerIss, Flags = TcpFlags.Syn, WindowSize = 65535, MaxSegmentSize = 1460, WindowScale = 7, SackPermitted = true }, 0);
        uint iss = 0, edge = 0;
        int scale = 0;
        while (link.Read() is PacketBuffer reply)
        {
            if (Parse(reply, out TcpRepr synAck) && synAck.Flags.HasFlag(TcpFlags.Syn))
            {
                iss = synAck.SequenceNumber;
                scale = synAck.WindowScale ?? 0;
                edge = synAck.AcknowledgmentNumber + synAck.WindowSize; // a SYN-ACK's window is never scaled
            }
            reply.Release();
        }
        uint next = peerIss + 1;
        Inject(link, pool, new TcpRepr { SourcePort = port, DestinationPort = 9, SequenceNumber = next, AcknowledgmentNumber = iss + 1, Flags = TcpFlags.Ack, WindowSize = 65535 }, 0);
        long sent = 0;
        for (int idle = 0; idle < 3 && sent < 4L * most;)
        {
            if ((int)(edge - next) <= 0)
            {
                Thread.Sleep(50); // let a delayed ACK come
                idle++;
            }
            else
            {
                Inject(link, pool, new TcpRepr { SourcePort = port, DestinationPort = 9, SequenceNumber = next, AcknowledgmentNumber = iss + 1, Flags = TcpFlags.Ack | TcpFlags.Psh, WindowSize = 65535 }, 1);
                next++;
                sent++;
                idle = 0;
            }
            while (link.Read() is PacketBuffer reply)
            {
                if (Parse(reply, out TcpRepr ack) && ack.Flags.HasFlag(TcpFlags.Ack) && !ack.Flags.HasFlag(TcpFlags.Rst))
                {
                    uint candidate = ack.AcknowledgmentNumber + (uint)(ack.WindowSize << scale);
                    edge = candidate;
                }
                reply.Release();
            }
        }
        return sent;
    }

    private static void Inject(ChannelEndpoint link, PacketBufferPool pool, TcpRepr tcp, int payload)
    {
        var ip = new Ipv4Repr { Source = PeerAddress, Destination = OurAddress, Protocol = IpProtocol.Tcp, TimeToLive = 64, Identification = 1, DontFragment = true, PayloadLength = tcp.BufferLength + payload };
        PacketBuffer packet = pool.Rent(ip.TotalLength); // one pooled MTU-sized buffer per packet, as the TUN reader rents
        Span<byte> bytes = packet.Append(ip.TotalLength);
        ip.Emit(bytes);
        Span<byte> segment = bytes[ip.HeaderLength..];
        tcp.Emit(segment);
        segment[tcp.BufferLength..].Fill((byte)'x');
        TcpHeader.WriteChecksum(segment, InternetChecksum.PseudoHeaderSumV4(bytes.Slice(12, 4), bytes.Slice(16, 4), (byte)IpProtocol.Tcp, segment.Length));
        packet.NetworkProtocol = NetworkProtocol.IPv4;
        link.InjectInbound(packet);
    }

    private static bool Parse(PacketBuffer packet, out TcpRepr tcp)
    {
        tcp = default;
        byte[] bytes = packet.ToArray();
        int ihl = (bytes[0] & 0xF) * 4;
        return TcpHeader.TryCreate(bytes.AsSpan(ihl), out TcpHeader header, out _) && TcpRepr.TryParse(header, out tcp, out _);
    }
}
