// Helpers of the TUN tests: a fake TUN device over a socket pair, GSO packets, a capturing dispatcher.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link.Tun;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.LinkEndpoint.Tun;

/// <summary>
/// A fake TUN device: one end of an AF_UNIX SOCK_SEQPACKET pair (each writev is one message, each read one
/// message, like a TUN fd) given to <see cref="TunDevice.ForTesting"/>; the test holds the other end.
/// </summary>
internal sealed unsafe class FakeTun : IDisposable
{
    public FakeTun(bool vnetHeader, TunOffloads offloads = TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6 | TunOffloads.Uso4 | TunOffloads.Uso6)
    {
        int* fds = stackalloc int[2];
        Assert.Equal(0, LinuxNative.SocketPair(LinuxNative.AF_UNIX, LinuxNative.SOCK_SEQPACKET | LinuxNative.SOCK_CLOEXEC, 0, fds));
        Device = TunDevice.ForTesting(new FileDescriptorHandle(fds[0], ownsHandle: true), vnetHeader, offloads);
        Peer = new FileDescriptorHandle(fds[1], ownsHandle: true);
        Assert.True(LinuxNative.SetNonBlocking(Peer.Fd, true));
    }

    public TunDevice Device { get; }

    public FileDescriptorHandle Peer { get; }

    /// <summary>What the "kernel" sends: one message.</summary>
    public void Send(ReadOnlySpan<byte> message)
    {
        fixed (byte* p = message)
        {
            Assert.Equal(message.Length, (int)LinuxNative.Write(Peer.Fd, p, (nuint)message.Length));
        }
    }

    /// <summary>The next message the endpoint wrote, or null after <paramref name="timeoutMs"/>.</summary>
    public byte[]? Receive(int timeoutMs = 2000)
    {
        var fd = new PollFd { Fd = Peer.Fd, Events = LinuxNative.POLLIN };
        if (LinuxNative.Poll(&fd, 1, timeoutMs) <= 0)
        {
            return null;
        }
        byte[] buffer = new byte[70_000];
        fixed (byte* p = buffer)
        {
            nint n = LinuxNative.Read(Peer.Fd, p, (nuint)buffer.Length);
            return n < 0 ? null : buffer[..(int)n];
        }
    }

    public List<byte[]> ReceiveAll()
    {
        var all = new List<byte[]>();
        while (Receive(50) is { } m)
        {
            all.Add(m);
        }
        return all;
    }

    public void Dispose()
    {
        Peer.Dispose();
        Device.Dispose();
    }
}

/// <summary>Super-segments and the segments they stand for.</summary>
internal static class GsoPackets
{
    public const int Mss = 1448;

    /// <summary>Segment i of a flow: seq 1000 + i·MSS, IPv4 ID 100 + i, PSH on the last, full checksums.</summary>
    public static byte[] Segment(bool v6, int index, int count, byte[] payload, int mss = Mss)
    {
        int length = Math.Min(mss, payload.Length - (index * mss));
        TcpRepr tcp = Packets.Tcp(seq: 1000 + (uint)(index * mss), flags: index == count - 1 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack);
        tcp.Timestamps = new TcpTimestamps(7, 9);
        ReadOnlySpan<byte> slice = payload.AsSpan(index * mss, length);
        return v6 ? Packets.Ipv6Tcp(tcp, slice) : Packets.Ipv4Tcp(tcp, slice, id: (ushort)(100 + index));
    }

    public static List<byte[]> Segments(bool v6, byte[] payload, int mss = Mss)
    {
        int count = (payload.Length + mss - 1) / mss;
        return Enumerable.Range(0, count).Select(i => Segment(v6, i, count, payload, mss)).ToList();
    }

    /// <summary>
    /// The super-segment of <see cref="Segments"/>: first segment's headers, the last one's flags, all the
    /// payload, IP length of the whole, TCP checksum field = folded pseudo-header sum (CHECKSUM_PARTIAL).
    /// </summary>
    public static byte[] Super(bool v6, byte[] payload, int mss = Mss)
    {
        TcpRepr tcp = Packets.Tcp(seq: 1000, flags: TcpFlags.Ack | TcpFlags.Psh);
        tcp.Timestamps = new TcpTimestamps(7, 9);
        byte[] packet = v6 ? Packets.Ipv6Tcp(tcp, payload) : Packets.Ipv4Tcp(tcp, payload, id: 100);
        int l4 = v6 ? 40 : 20;
        uint pseudo = v6
            ? InternetChecksum.PseudoHeaderSumV6(packet.AsSpan(8, 16), packet.AsSpan(24, 16), (byte)IpProtocol.Tcp, packet.Length - l4)
            : InternetChecksum.PseudoHeaderSumV4(packet.AsSpan(12, 4), packet.AsSpan(16, 4), (byte)IpProtocol.Tcp, packet.Length - l4);
        TcpHeader.WritePartialChecksum(packet.AsSpan(l4), pseudo);
        return packet;
    }

    public static GsoOptions Options(bool v6, int mss = Mss) => new()
    {
        Type = v6 ? GsoType.TcpV6 : GsoType.TcpV4,
        NeedsChecksum = true,
        HeaderLength = (ushort)((v6 ? 40 : 20) + 32),
        MaxSegmentSize = (ushort)mss,
        ChecksumStart = (ushort)(v6 ? 40 : 20),
        ChecksumOffset = 16,
    };

    /// <summary>A pooled super-segment whose payload is spread over <paramref name="pieces"/> referenced chunks (as TCP or GRO builds them).</summary>
    public static PacketBuffer Pooled(PacketBufferPool pool, bool v6, byte[] payload, int pieces = 3, int mss = Mss)
    {
        byte[] super = Super(v6, payload, mss);
        int headers = (v6 ? 40 : 20) + 32;
        PacketBuffer packet = pool.RentCopy(super.AsSpan(0, headers), headroom: 64);
        int per = (payload.Length + pieces - 1) / pieces;
        for (int offset = 0; offset < payload.Length; offset += per)
        {
            int n = Math.Min(per, payload.Length - offset);
            using PacketBuffer piece = pool.RentCopy(super.AsSpan(headers + offset, n));
            Assert.True(packet.AppendReference(piece, 0, n));
        }
        packet.Gso = Options(v6, mss);
        packet.NetworkProtocol = v6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4;
        return packet;
    }

    /// <summary>The full TCP checksum the packet should carry (computed over a flat copy with the field zeroed).</summary>
    public static ushort FullTcpChecksum(byte[] packet)
    {
        bool v6 = packet[0] >> 4 == 6;
        int l4 = v6 ? 40 : 20;
        byte[] copy = (byte[])packet.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(l4 + 16), 0);
        uint pseudo = v6
            ? InternetChecksum.PseudoHeaderSumV6(copy.AsSpan(8, 16), copy.AsSpan(24, 16), (byte)IpProtocol.Tcp, copy.Length - l4)
            : InternetChecksum.PseudoHeaderSumV4(copy.AsSpan(12, 4), copy.AsSpan(16, 4), (byte)IpProtocol.Tcp, copy.Length - l4);
        return InternetChecksum.Compute(copy.AsSpan(l4), pseudo);
    }
}

/// <summary>A dispatcher that keeps a flat copy of every packet delivered (and the Gso metadata it had).</summary>
internal sealed class CapturingDispatcher : INetworkDispatcher
{
    public List<(byte[] Bytes, GsoOptions Gso, bool Validated)> Packets { get; } = [];

    public void DeliverNetworkPacket(NetworkProtocol protocol, PacketBuffer packet) =>
        Packets.Add((packet.ToArray(), packet.Gso, packet.RxChecksumValidated));
}
