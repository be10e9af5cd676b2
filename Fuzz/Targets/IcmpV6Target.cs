// ICMPv6 message view and repr (RFC 4443), checksum over the IPv6 pseudo-header, and the invoking packet.
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Fuzz.Support;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: any 8 bytes make a view; <c>IsError</c> is type &lt; 128 (RFC 4443 §2.1); parsing fails exactly for
/// unsupported types; the emitted repr keeps type, code and the type's own rest-of-header field, zeroes the rest and
/// parses back to the same repr; a checksum written over a pseudo-header verifies, whole or composed.
/// </summary>
public sealed class IcmpV6Target : IFuzzTarget
{
    /// <inheritdoc/>
    public string Name => "IcmpV6";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        bool created = IcmpV6Header.TryCreate(input, out IcmpV6Header header, out WireError error);
        Check.Equal(input.Length >= IcmpV6Header.HeaderLength, created, "any 8 bytes make a view");
        if (!created)
        {
            Check.Equal(WireError.Truncated, error, "short input is Truncated");
            return;
        }
        Check.Equal(input.Length, header.Message.Length, "view covers the buffer");
        Check.Equal(input[0] < 128, header.IsError, "IsError = type < 128");
        uint pseudo = HeaderSpan.FixedPseudoHeaderSum((byte)IpProtocol.IcmpV6, input.Length, ipv6: true);
        Check.Equal(InternetChecksum.Fold(InternetChecksum.SumScalar(input, pseudo)) == 0xFFFF, header.VerifyChecksum(pseudo), "checksum verdict = scalar reference");

        bool supported = header.Type is IcmpV6Type.EchoRequest or IcmpV6Type.EchoReply or IcmpV6Type.DestinationUnreachable
            or IcmpV6Type.PacketTooBig or IcmpV6Type.TimeExceeded or IcmpV6Type.ParameterProblem;
        bool parsed = IcmpV6Repr.TryParse(header, out IcmpV6Repr repr, out error);
        Check.Equal(supported, parsed, "parse succeeds exactly for supported types");
        if (!parsed)
        {
            Check.Equal(WireError.Unsupported, error, "unsupported type error");
            return;
        }
        Check.Equal(header.IsError, repr.IsError, "repr IsError");

        byte[] message = input.ToArray();
        Span<byte> emitted = message.AsSpan(0, repr.BufferLength);
        emitted.Fill(0xA5);
        repr.Emit(emitted);
        Span<byte> expected = stackalloc byte[IcmpV6Header.HeaderLength];
        expected.Clear();
        expected[0] = input[0];
        expected[1] = input[1];
        if (repr.Type is IcmpV6Type.EchoRequest or IcmpV6Type.EchoReply or IcmpV6Type.PacketTooBig or IcmpV6Type.ParameterProblem)
        {
            input.Slice(4, 4).CopyTo(expected[4..]);
        }
        Check.BytesEqual(expected, emitted, "emitted header keeps the type's fields");
        Check.True(IcmpV6Header.TryCreate(message, out IcmpV6Header again, out _), "emitted message parses");
        Check.True(IcmpV6Repr.TryParse(again, out IcmpV6Repr reparsed, out _), "emitted message parses to a repr");
        Check.Equal(repr, reparsed, "repr round trip");

        IcmpV6Header.WriteChecksum(message, pseudo);
        ushort whole = again.Checksum;
        Check.True(again.VerifyChecksum(pseudo), "written checksum verifies");
        IcmpV6Header.WriteChecksum(message.AsSpan(0, IcmpV6Header.HeaderLength), pseudo, InternetChecksum.Sum(again.Payload));
        Check.Equal(whole, BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(IcmpV6Header.ChecksumOffset)), "checksum composed from a payload sum = whole");

        if (repr.IsError && header.Payload.Length >= Ipv6Header.Length)
        {
            // RFC 4443 §2.4(c): as much of the invoking packet as fits; its payload length may exceed what is here.
            ReadOnlySpan<byte> invoking = header.Payload;
            bool whole6 = Ipv6Header.TryCreate(invoking, out Ipv6Header inner, out WireError innerError);
            Check.True(whole6 || innerError is WireError.Truncated or WireError.BadVersion or WireError.Unsupported, $"invoking header refusal {innerError}");
            if (whole6)
            {
                _ = Ipv6ExtensionWalker.TryWalk(inner, out _, out _);
            }
        }
    }
}
