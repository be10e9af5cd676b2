// ICMPv4 message view and repr (RFC 792, RFC 1191), and the invoking packet an error carries.
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Fuzz.Support;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: any 8 bytes make a view; the checksum verdict matches the scalar reference; parsing fails exactly for
/// unsupported types; the emitted repr keeps type, code and the type's own rest-of-header field and zeroes the rest,
/// and parses back to the same repr; a written checksum verifies, whole or composed from a payload sum.
/// </summary>
public sealed class IcmpV4Target : IFuzzTarget
{
    /// <inheritdoc/>
    public string Name => "IcmpV4";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        bool created = IcmpV4Header.TryCreate(input, out IcmpV4Header header, out WireError error);
        Check.Equal(input.Length >= IcmpV4Header.HeaderLength, created, "any 8 bytes make a view");
        if (!created)
        {
            Check.Equal(WireError.Truncated, error, "short input is Truncated");
            return;
        }
        Check.Equal(input.Length, header.Message.Length, "view covers the buffer");
        Check.Equal(input.Length - IcmpV4Header.HeaderLength, header.Payload.Length, "payload length");
        Check.Equal(InternetChecksum.Fold(InternetChecksum.SumScalar(input)) == 0xFFFF, header.VerifyChecksum(), "checksum verdict = scalar reference");

        bool supported = header.Type is IcmpV4Type.EchoRequest or IcmpV4Type.EchoReply or IcmpV4Type.DestinationUnreachable
            or IcmpV4Type.TimeExceeded or IcmpV4Type.ParameterProblem or IcmpV4Type.SourceQuench;
        bool parsed = IcmpV4Repr.TryParse(header, out IcmpV4Repr repr, out error);
        Check.Equal(supported, parsed, "parse succeeds exactly for supported types");
        if (!parsed)
        {
            Check.Equal(WireError.Unsupported, error, "unsupported type error");
            return;
        }
        Check.Equal(header.Type, repr.Type, "type");
        Check.Equal(header.Code, repr.Code, "code");

        byte[] message = input.ToArray();
        Span<byte> emitted = message.AsSpan(0, repr.BufferLength);
        emitted.Fill(0xA5);
        repr.Emit(emitted);
        Span<byte> expected = stackalloc byte[IcmpV4Header.HeaderLength];
        expected.Clear();
        expected[0] = input[0];
        expected[1] = input[1];
        switch (repr.Type)
        {
            case IcmpV4Type.EchoRequest or IcmpV4Type.EchoReply:
                input.Slice(4, 4).CopyTo(expected[4..]);
                break;
            case IcmpV4Type.DestinationUnreachable:
                input.Slice(6, 2).CopyTo(expected[6..]); // RFC 1191 §4: next-hop MTU in the low 16 bits
                break;
            case IcmpV4Type.ParameterProblem:
                expected[4] = input[4];
                break;
            default:
                break;
        }
        Check.BytesEqual(expected, emitted, "emitted header keeps the type's fields");
        Check.True(IcmpV4Header.TryCreate(message, out IcmpV4Header again, out _), "emitted message parses");
        Check.True(IcmpV4Repr.TryParse(again, out IcmpV4Repr reparsed, out _), "emitted message parses to a repr");
        Check.Equal(repr, reparsed, "repr round trip");
        Check.Equal(repr.Type is IcmpV4Type.DestinationUnreachable or IcmpV4Type.TimeExceeded or IcmpV4Type.ParameterProblem or IcmpV4Type.SourceQuench,
            repr.IsError, "IsError");

        IcmpV4Header.WriteChecksum(message);
        ushort whole = again.Checksum;
        Check.True(again.VerifyChecksum(), "written checksum verifies");
        IcmpV4Header.WriteChecksum(message.AsSpan(0, IcmpV4Header.HeaderLength), InternetChecksum.Sum(again.Payload));
        Check.Equal(whole, BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(IcmpV4Header.ChecksumOffset)), "checksum composed from a payload sum = whole");

        if (repr.IsError && Ipv4Header.TryCreate(header.Payload, out Ipv4Header invoking, out _))
        {
            // RFC 792: the invoking header plus 64 bits of its data; read what a demux would read.
            Check.True(invoking.HeaderLength <= header.Payload.Length, "invoking header inside the payload");
            _ = (invoking.Protocol, invoking.Source, invoking.Destination, invoking.Payload.Length);
        }
    }
}
