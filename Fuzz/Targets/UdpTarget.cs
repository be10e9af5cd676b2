// UDP header view and repr (RFC 768), checksum rules over IPv4 and IPv6 (RFC 8200 §8.1).
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Fuzz.Support;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: the view stops at the length field; parsing fails only for a zero checksum over IPv6; the emitted
/// repr equals the input header but for the checksum (emitted 0) and parses back to the same repr; a written
/// checksum is never 0 and verifies, whole or composed from a payload sum; a zero checksum verifies over IPv4 only.
/// </summary>
public sealed class UdpTarget : IFuzzTarget
{
    /// <inheritdoc/>
    public string Name => "Udp";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (!UdpHeader.TryCreate(input, out UdpHeader header, out WireError error))
        {
            Check.True(error is WireError.Truncated or WireError.BadTotalLength, $"refusal reason {error}");
            return;
        }
        Check.True(header.Length >= UdpHeader.HeaderLength && header.Length <= input.Length, "length field within 8..buffer");
        Check.Equal((int)header.Length, header.Datagram.Length, "datagram stops at the length field");
        Check.Equal(header.Length - UdpHeader.HeaderLength, header.Payload.Length, "payload length");

        Check.True(UdpRepr.TryParse(header, NetworkProtocol.IPv4, out UdpRepr repr, out error), "every datagram parses over IPv4");
        bool v6 = UdpRepr.TryParse(header, NetworkProtocol.IPv6, out UdpRepr repr6, out WireError error6);
        Check.Equal(header.Checksum != 0, v6, "over IPv6 only a zero checksum is refused");
        if (v6)
        {
            Check.Equal(repr, repr6, "same repr over both versions");
        }
        else
        {
            Check.Equal(WireError.BadField, error6, "zero checksum over IPv6 is BadField");
        }

        byte[] datagram = header.Datagram.ToArray();
        Span<byte> emitted = stackalloc byte[UdpHeader.HeaderLength];
        emitted.Fill(0xA5);
        repr.Emit(emitted);
        Span<byte> expected = stackalloc byte[UdpHeader.HeaderLength];
        datagram.AsSpan(0, UdpHeader.HeaderLength).CopyTo(expected);
        expected[UdpHeader.ChecksumOffset] = 0;
        expected[UdpHeader.ChecksumOffset + 1] = 0;
        Check.BytesEqual(expected, emitted, "emitted header = input header with checksum 0");
        emitted.CopyTo(datagram);
        Check.True(UdpHeader.TryCreate(datagram, out UdpHeader again, out _), "emitted header parses");
        Check.True(UdpRepr.TryParse(again, NetworkProtocol.IPv4, out UdpRepr reparsed, out _), "emitted header parses to a repr");
        Check.Equal(repr, reparsed, "repr round trip");
        Check.True(UdpHeader.VerifyChecksum(datagram, 0x1234, NetworkProtocol.IPv4, out error) && error == WireError.None, "zero checksum verifies over IPv4");
        Check.True(!UdpHeader.VerifyChecksum(datagram, 0x1234, NetworkProtocol.IPv6, out error) && error == WireError.BadField, "zero checksum fails over IPv6");

        foreach (bool ipv6 in (ReadOnlySpan<bool>)[false, true])
        {
            uint pseudo = HeaderSpan.FixedPseudoHeaderSum((byte)IpProtocol.Udp, datagram.Length, ipv6);
            UdpHeader.WriteChecksum(datagram, pseudo);
            ushort whole = BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(UdpHeader.ChecksumOffset));
            Check.True(whole != 0, "a written checksum is never 0");
            Check.True(UdpHeader.VerifyChecksum(datagram, pseudo, ipv6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4, out error), $"written checksum verifies ({error})");
            UdpHeader.WriteChecksum(datagram, pseudo, InternetChecksum.Sum(datagram.AsSpan(UdpHeader.HeaderLength)));
            Check.Equal(whole, BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(UdpHeader.ChecksumOffset)), "checksum composed from a payload sum = whole");
        }
    }
}
