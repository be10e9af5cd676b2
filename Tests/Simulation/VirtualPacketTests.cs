// What a fault rule sees of a packet, parsed by the stack's own IpLayout: IPv4 and IPv6 TCP, an IPv6 segment behind an
// extension header (ports and flags found past it, RFC 8200 §4), a later IPv6 fragment (no transport header), and
// bytes that are no IP packet at all (false, never an exception).
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Simulation;

public class VirtualPacketTests
{
    private static VirtualPacket? Parse(PacketBufferPool pool, byte[] bytes)
    {
        using PacketBuffer packet = pool.RentCopy(bytes);
        return VirtualPacket.TryParse(packet, "a", address => address == NetAddress.FromV6(Packets.V6B) ? "b" : null, out VirtualPacket parsed) ? parsed : null;
    }

    /// <summary><paramref name="packet"/> (IPv6, no extension headers) with <paramref name="header"/> inserted after the fixed header as next header <paramref name="type"/>.</summary>
    private static byte[] WithExtension(byte[] packet, IpProtocol type, byte[] header)
    {
        header[0] = packet[6];
        byte[] result = [.. packet.AsSpan(0, 40), .. header, .. packet.AsSpan(40)];
        result[6] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(4), (ushort)(result.Length - 40));
        return result;
    }

    [Fact]
    public void TryParse_Ipv4Syn_PortsFlagsAndPayload()
    {
        using var pool = new LeakCheckedPool();
        VirtualPacket p = Parse(pool, Packets.Ipv4Tcp(Packets.Tcp(flags: TcpFlags.Syn, sport: 40000, dport: 5432), new byte[7]))!.Value;
        Assert.True(p.IsSyn);
        Assert.Equal((6, 40000, 5432, 7, 47), (p.Protocol, p.SourcePort, p.DestinationPort, p.PayloadLength, p.Length));
        Assert.Null(p.To);
    }

    [Fact]
    public void Rfc8200_4_TryParse_Ipv6TcpBehindDestinationOptions_SeesPortsAndFlagsPastTheHeader()
    {
        using var pool = new LeakCheckedPool();
        byte[] plain = Packets.Ipv6Tcp(Packets.Tcp(flags: TcpFlags.Syn, sport: 41000, dport: 5432), new byte[10]);
        byte[] options = [0, 0, 1, 4, 0, 0, 0, 0]; // next header (set below), length 0, PadN of 4
        VirtualPacket p = Parse(pool, WithExtension(plain, IpProtocol.Ipv6DestinationOptions, options))!.Value;
        Assert.True(p.IsSyn);
        Assert.Equal((6, 41000, 5432, 10), (p.Protocol, p.SourcePort, p.DestinationPort, p.PayloadLength));
        Assert.Equal("b", p.To);
    }

    [Fact]
    public void Rfc8200_4_5_TryParse_LaterIpv6Fragment_HasNoPortsOrFlags()
    {
        using var pool = new LeakCheckedPool();
        byte[] plain = Packets.Ipv6Tcp(Packets.Tcp(flags: TcpFlags.Syn), new byte[16]);
        byte[] fragment = [0, 0, 0, 0, 0, 0, 0, 1]; // next header (set below), reserved, offset and M, identification 1
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(2), 1 << 3); // offset 1 (8 bytes), M off: a later fragment
        VirtualPacket p = Parse(pool, WithExtension(plain, IpProtocol.Ipv6Fragment, fragment))!.Value;
        Assert.Equal((6, 0, 0, TcpFlags.None), (p.Protocol, p.SourcePort, p.DestinationPort, p.Flags));
        Assert.False(p.IsSyn);
    }

    [Theory]
    [InlineData(new byte[] { 0x45, 0, 0 })] // a truncated IPv4 header
    [InlineData(new byte[] { 0x60, 0, 0, 0, 0, 8, 0, 64 })] // a truncated IPv6 header
    [InlineData(new byte[] { 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 })] // version 1
    public void TryParse_NotAnIpPacket_FalseWithoutThrowing(byte[] bytes)
    {
        using var pool = new LeakCheckedPool();
        Assert.Null(Parse(pool, bytes));
    }
}
