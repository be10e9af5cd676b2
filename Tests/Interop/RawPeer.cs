// A hostile peer on the kernel's side of a TUN device: forges IPv4 packets from any source address (a raw
// IPPROTO_RAW socket) and reads every packet the stack writes to the device (an AF_PACKET socket bound to it), both
// opened inside a network namespace. Shared by the kernel interop tests and Bench's `serve-attack` measurements.
using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using NetStack.Checksums;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Interop;

/// <summary>
/// Raw sockets in a namespace: <see cref="Send"/> puts a whole IPv4 packet (our header, any source) on the route to
/// its destination; <see cref="Receive"/> returns the next packet the stack wrote to the TUN device (the kernel then
/// drops those addressed to sources it does not own, so spoofed peers see their answers only here).
/// </summary>
internal sealed partial class RawPeer : IDisposable
{
    private const int AF_INET = 2;
    private const int AF_PACKET = 17;
    private const int SOCK_RAW = 3;
    private const int IPPROTO_RAW = 255;
    private const ushort ETH_P_ALL = 0x0003;
    private const int SOL_SOCKET = 1;
    private const int SO_SNDBUFFORCE = 32;
    private const int SO_RCVBUFFORCE = 33;
    private const int CLONE_NEWNET = 0x40000000;
    private const int MSG_DONTWAIT = 0x40;
    private const int EAGAIN = 11;
    private const int ENOBUFS = 105;
    private const short POLLIN = 1;
    private const short POLLOUT = 4;
    private const byte PACKET_OUTGOING = 4;

    private readonly int _send;
    private readonly int _receive;
    private readonly byte[] _address = new byte[16];

    private RawPeer(int send, int receive)
    {
        _send = send;
        _receive = receive;
    }

    /// <summary>Packets sent that the kernel refused for lack of buffer space (they were retried until taken).</summary>
    public long SendRetries { get; private set; }

    /// <summary>Opens both sockets inside namespace <paramref name="netns"/>; the receiving one on <paramref name="device"/>.</summary>
    public static RawPeer Open(string netns, string device)
    {
        RawPeer? peer = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using (Microsoft.Win32.SafeHandles.SafeFileHandle ns = File.OpenHandle($"/run/netns/{netns}"))
                {
                    Check(SetNs((int)ns.DangerousGetHandle(), CLONE_NEWNET), "setns");
                }
                int send = Check(Socket(AF_INET, SOCK_RAW, IPPROTO_RAW), "socket(AF_INET, SOCK_RAW)");
                int receive = Check(Socket(AF_PACKET, SOCK_RAW, BinaryPrimitives.ReverseEndianness(ETH_P_ALL)), "socket(AF_PACKET)");
                int size = 16 << 20;
                _ = SetSockOpt(send, SOL_SOCKET, SO_SNDBUFFORCE, ref size, sizeof(int));
                _ = SetSockOpt(receive, SOL_SOCKET, SO_RCVBUFFORCE, ref size, sizeof(int));
                int index = (int)IfNameToIndex(device);
                if (index == 0)
                {
                    throw new IOException($"if_nametoindex {device}: errno {Marshal.GetLastPInvokeError()}");
                }
                Span<byte> link = stackalloc byte[20]; // struct sockaddr_ll
                link.Clear();
                BinaryPrimitives.WriteUInt16LittleEndian(link, AF_PACKET);
                BinaryPrimitives.WriteUInt16BigEndian(link[2..], ETH_P_ALL);
                BinaryPrimitives.WriteInt32LittleEndian(link[4..], index);
                Check(Bind(receive, link, link.Length), "bind AF_PACKET");
                peer = new RawPeer(send, receive);
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        return peer ?? throw new InvalidOperationException($"raw sockets in {netns}", failure);
    }

    /// <summary>Sends one IPv4 packet as it is (header included); waits while the kernel's queue is full.</summary>
    public void Send(ReadOnlySpan<byte> ipv4Packet)
    {
        Span<byte> address = _address;
        BinaryPrimitives.WriteUInt16LittleEndian(address, AF_INET); // struct sockaddr_in, the destination from the header
        ipv4Packet.Slice(16, 4).CopyTo(address[4..]);
        while (SendTo(_send, ipv4Packet, ipv4Packet.Length, 0, address, address.Length) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != ENOBUFS && errno != EAGAIN)
            {
                throw new IOException($"sendto: errno {errno}");
            }
            SendRetries++;
            var poll = new PollFd { Fd = _send, Events = POLLOUT };
            _ = Poll(ref poll, 1, 1);
        }
    }

    /// <summary>
    /// The next packet the stack wrote to the device (packets going the other way are skipped), copied into
    /// <paramref name="buffer"/>; 0 when none came within <paramref name="timeoutMs"/>.
    /// </summary>
    public int Receive(Span<byte> buffer, int timeoutMs)
    {
        long deadline = Environment.TickCount64 + timeoutMs;
        Span<byte> from = stackalloc byte[20];
        while (true)
        {
            int fromLength = from.Length;
            int n = RecvFrom(_receive, buffer, buffer.Length, MSG_DONTWAIT, from, ref fromLength);
            if (n > 0)
            {
                if (from[10] != PACKET_OUTGOING) // sll_pkttype: what the kernel received from the stack
                {
                    return n;
                }
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (n < 0 && errno != EAGAIN)
            {
                throw new IOException($"recvfrom: errno {errno}");
            }
            int left = (int)(deadline - Environment.TickCount64);
            if (left <= 0)
            {
                return 0;
            }
            var poll = new PollFd { Fd = _receive, Events = POLLIN };
            _ = Poll(ref poll, 1, left);
        }
    }

    /// <summary>Sends a TCP segment from <paramref name="source"/>:<paramref name="tcp"/>.SourcePort (checksums filled in).</summary>
    public void SendTcp(IPAddress source, IPAddress destination, TcpRepr tcp, ReadOnlySpan<byte> payload = default) =>
        Send(Packets.Ipv4Tcp(tcp, payload, V4(source), V4(destination)));

    /// <summary>
    /// Until cancelled, ACKs every SYN-ACK the stack sends to an address other than <paramref name="kernel"/> (one the
    /// kernel does not own: a spoofed source), completing those handshakes; returns how many it completed.
    /// </summary>
    public int CompleteSpoofedHandshakes(IPAddress kernel, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[70000];
        uint skip = V4(kernel);
        int completed = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            int n = Receive(buffer, 50);
            if (n > 0 && TryParseTcp(buffer.AsSpan(0, n), out uint source, out uint destination, out TcpRepr tcp, out _)
                && destination != skip && (tcp.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == (TcpFlags.Syn | TcpFlags.Ack))
            {
                Send(Packets.Ipv4Tcp(new TcpRepr
                {
                    SourcePort = tcp.DestinationPort,
                    DestinationPort = tcp.SourcePort,
                    SequenceNumber = tcp.AcknowledgmentNumber,
                    AcknowledgmentNumber = tcp.SequenceNumber + 1,
                    Flags = TcpFlags.Ack,
                    WindowSize = 65535,
                }, default, destination, source));
                completed++;
            }
        }
        return completed;
    }

    /// <summary>The IPv4 address as the number <see cref="Packets"/> takes.</summary>
    public static uint V4(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    /// <summary>
    /// Reads an IPv4 TCP packet (no checksum check: the stack may leave it to the device); false for anything else.
    /// </summary>
    public static bool TryParseTcp(ReadOnlySpan<byte> packet, out uint source, out uint destination, out TcpRepr tcp, out int payloadLength)
    {
        source = destination = 0;
        tcp = default;
        payloadLength = 0;
        if (packet.Length < 40 || packet[0] >> 4 != 4 || packet[9] != (byte)IpProtocol.Tcp)
        {
            return false;
        }
        int ihl = (packet[0] & 0xF) * 4;
        int total = Math.Min(packet.Length, BinaryPrimitives.ReadUInt16BigEndian(packet[2..]));
        source = BinaryPrimitives.ReadUInt32BigEndian(packet[12..]);
        destination = BinaryPrimitives.ReadUInt32BigEndian(packet[16..]);
        if (total < ihl || !TcpHeader.TryCreate(packet[ihl..total], out TcpHeader header, out _) || !TcpRepr.TryParse(header, out tcp, out _))
        {
            return false;
        }
        payloadLength = header.Payload.Length;
        return true;
    }

    /// <summary>
    /// An ICMPv4 "fragmentation needed" (type 3 code 4, RFC 1191 §4) from <paramref name="source"/> to
    /// <paramref name="destination"/>, quoting the IPv4 header and first 8 bytes of a TCP segment
    /// <paramref name="quotedSource"/>:<paramref name="quotedSourcePort"/> → <paramref name="quotedDestination"/>:<paramref name="quotedDestinationPort"/>.
    /// </summary>
    public static byte[] FragmentationNeeded(IPAddress source, IPAddress destination, ushort mtu, IPAddress quotedSource, ushort quotedSourcePort,
        IPAddress quotedDestination, ushort quotedDestinationPort, uint quotedSequence)
    {
        var quotedIp = new Ipv4Repr { Source = V4(quotedSource), Destination = V4(quotedDestination), Protocol = IpProtocol.Tcp, TimeToLive = 64, DontFragment = true, PayloadLength = 1480 };
        var ip = new Ipv4Repr { Source = V4(source), Destination = V4(destination), Protocol = IpProtocol.Icmp, TimeToLive = 64, PayloadLength = 8 + quotedIp.HeaderLength + 8 };
        var packet = new byte[ip.TotalLength];
        ip.Emit(packet);
        Span<byte> icmp = packet.AsSpan(ip.HeaderLength);
        icmp[0] = 3; // destination unreachable
        icmp[1] = 4; // fragmentation needed and DF set
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], mtu);
        quotedIp.Emit(icmp[8..]);
        Span<byte> quotedTcp = icmp[(8 + quotedIp.HeaderLength)..];
        BinaryPrimitives.WriteUInt16BigEndian(quotedTcp, quotedSourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(quotedTcp[2..], quotedDestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(quotedTcp[4..], quotedSequence);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], InternetChecksum.Compute(icmp));
        return packet;
    }

    public void Dispose()
    {
        _ = Close(_send);
        _ = Close(_receive);
    }

    private static int Check(int result, string what) =>
        result >= 0 ? result : throw new IOException($"{what}: errno {Marshal.GetLastPInvokeError()}");

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, ref int value, int length);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int Bind(int fd, ReadOnlySpan<byte> address, int length);

    [LibraryImport("libc", EntryPoint = "sendto", SetLastError = true)]
    private static partial int SendTo(int fd, ReadOnlySpan<byte> buffer, int length, int flags, ReadOnlySpan<byte> address, int addressLength);

    [LibraryImport("libc", EntryPoint = "recvfrom", SetLastError = true)]
    private static partial int RecvFrom(int fd, Span<byte> buffer, int length, int flags, Span<byte> address, ref int addressLength);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, int count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "if_nametoindex", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint IfNameToIndex(string name);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
