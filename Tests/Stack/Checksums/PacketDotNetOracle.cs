// PacketDotNet as an independent checksum implementation for differential tests.
using System.Net;
using Pdn = PacketDotNet;

namespace NetStack.Tests.Stack.Checksums;

internal static class PacketDotNetOracle
{
    /// <summary>PacketDotNet's TCP checksum for <paramref name="segment"/> (header + payload) inside an IPv4 packet.</summary>
    public static ushort TcpChecksumV4(byte[] source, byte[] destination, byte[] segment) =>
        TcpChecksum(new Pdn.IPv4Packet(new IPAddress(source), new IPAddress(destination)), segment);

    /// <summary>PacketDotNet's TCP checksum for <paramref name="segment"/> inside an IPv6 packet.</summary>
    public static ushort TcpChecksumV6(byte[] source, byte[] destination, byte[] segment) =>
        TcpChecksum(new Pdn.IPv6Packet(new IPAddress(source), new IPAddress(destination)), segment);

    private static ushort TcpChecksum(Pdn.IPPacket ip, byte[] segment)
    {
        // Parse the segment as PacketDotNet would from the wire, then let it recompute over its own pseudo-header.
        var tcp = new Pdn.TcpPacket(new Pdn.Utils.ByteArraySegment((byte[])segment.Clone()));
        ip.PayloadPacket = tcp;
        ip.UpdateCalculatedValues();
        tcp.UpdateTcpChecksum();
        return tcp.Checksum;
    }
}
