// Hand-written IPv4/IPv6 headers for the transport tests, independent of the IP views.
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

/// <summary>
/// Hand-written IPv4/IPv6 headers for tests (the IP views are written elsewhere; these tests do not depend
/// on them), and pseudo-header sums.
/// </summary>
internal static class TestIp
{
    public static readonly byte[] V4Source = [192, 0, 2, 1];
    public static readonly byte[] V4Destination = [198, 51, 100, 7];
    public static readonly byte[] V6Source = Convert.FromHexString("20010db8000000000000000000000001");
    public static readonly byte[] V6Destination = Convert.FromHexString("20010db80000000000000000000000fe");

    public static uint PseudoV4(IpProtocol protocol, int length) =>
        InternetChecksum.PseudoHeaderSumV4(V4Source, V4Destination, (byte)protocol, length);

    public static uint PseudoV6(IpProtocol protocol, int length) =>
        InternetChecksum.PseudoHeaderSumV6(V6Source, V6Destination, (byte)protocol, length);

    /// <summary>An IPv4 packet (no options, DF, TTL 64, valid header checksum) around <paramref name="payload"/>.</summary>
    public static byte[] V4(IpProtocol protocol, ReadOnlySpan<byte> payload)
    {
        var packet = new byte[20 + payload.Length];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), 0x1234);
        packet[6] = 0x40;
        packet[8] = 64;
        packet[9] = (byte)protocol;
        V4Source.CopyTo(packet, 12);
        V4Destination.CopyTo(packet, 16);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), InternetChecksum.Compute(packet.AsSpan(0, 20)));
        payload.CopyTo(packet.AsSpan(20));
        return packet;
    }

    /// <summary>An IPv6 packet (hop limit 64, no extension headers) around <paramref name="payload"/>.</summary>
    public static byte[] V6(IpProtocol protocol, ReadOnlySpan<byte> payload)
    {
        var packet = new byte[40 + payload.Length];
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)payload.Length);
        packet[6] = (byte)protocol;
        packet[7] = 64;
        V6Source.CopyTo(packet, 8);
        V6Destination.CopyTo(packet, 24);
        payload.CopyTo(packet.AsSpan(40));
        return packet;
    }
}
