// ICMPv6 message representation (RFC 4443) and its emitter.
namespace NetStack.Wire;

/// <summary>
/// A supported ICMPv6 message as a small tagged value: <see cref="Type"/> is the tag and says which of the
/// type-specific fields mean something (the others are 0). Supported: echo request/reply
/// (<see cref="Identifier"/>, <see cref="SequenceNumber"/>), destination unreachable, packet too big
/// (<see cref="Mtu"/>), time exceeded, parameter problem (<see cref="Pointer"/>). Neighbour discovery is
/// not handled here. The payload (echo data or invoking packet) is not held: it is
/// <see cref="IcmpV6Header.Payload"/> on receive, and on send the caller places it after the header and
/// calls <see cref="IcmpV6Header.WriteChecksum(Span{byte}, uint)"/> (so the repr stays a plain value type).
/// </summary>
public record struct IcmpV6Repr
{
    /// <summary>Message type: the tag.</summary>
    public IcmpV6Type Type;
    /// <summary>Message code.</summary>
    public byte Code;
    /// <summary>Echo identifier (echo request/reply only).</summary>
    public ushort Identifier;
    /// <summary>Echo sequence number (echo request/reply only).</summary>
    public ushort SequenceNumber;
    /// <summary>Next-hop MTU (packet too big only, RFC 4443 §3.2).</summary>
    public uint Mtu;
    /// <summary>Offset of the offending octet in the invoking packet (parameter problem only, RFC 4443 §3.4).</summary>
    public uint Pointer;

    /// <summary>An echo request (RFC 4443 §4.1).</summary>
    public static IcmpV6Repr EchoRequest(ushort identifier, ushort sequenceNumber) =>
        new() { Type = IcmpV6Type.EchoRequest, Identifier = identifier, SequenceNumber = sequenceNumber };

    /// <summary>An echo reply (RFC 4443 §4.2).</summary>
    public static IcmpV6Repr EchoReply(ushort identifier, ushort sequenceNumber) =>
        new() { Type = IcmpV6Type.EchoReply, Identifier = identifier, SequenceNumber = sequenceNumber };

    /// <summary>A destination unreachable (RFC 4443 §3.1).</summary>
    public static IcmpV6Repr DestinationUnreachable(IcmpV6UnreachableCode code) =>
        new() { Type = IcmpV6Type.DestinationUnreachable, Code = (byte)code };

    /// <summary>A packet too big with the next-hop MTU (RFC 4443 §3.2).</summary>
    public static IcmpV6Repr PacketTooBig(uint mtu) => new() { Type = IcmpV6Type.PacketTooBig, Mtu = mtu };

    /// <summary>Time exceeded: code 0 hop limit exceeded, 1 reassembly time exceeded (RFC 4443 §3.3).</summary>
    public static IcmpV6Repr TimeExceeded(byte code) => new() { Type = IcmpV6Type.TimeExceeded, Code = code };

    /// <summary>Parameter problem (RFC 4443 §3.4): code 0 erroneous header field, 1 unrecognized next header, 2 unrecognized option.</summary>
    public static IcmpV6Repr ParameterProblem(byte code, uint pointer) =>
        new() { Type = IcmpV6Type.ParameterProblem, Code = code, Pointer = pointer };

    /// <summary>True for error messages (type below 128, RFC 4443 §2.1).</summary>
    public readonly bool IsError => (byte)Type < 128;

    /// <summary>
    /// Reads a supported message; other types fail with <see cref="WireError.Unsupported"/> (RFC 4443 §2.4:
    /// the caller passes unknown errors up and drops unknown informational messages). Unused bytes are
    /// ignored. The checksum is not verified here (<see cref="IcmpV6Header.VerifyChecksum(uint)"/>).
    /// </summary>
    public static bool TryParse(in IcmpV6Header header, out IcmpV6Repr repr, out WireError error)
    {
        repr = new IcmpV6Repr { Type = header.Type, Code = header.Code };
        switch (header.Type)
        {
            case IcmpV6Type.EchoRequest:
            case IcmpV6Type.EchoReply:
                repr.Identifier = header.Identifier;
                repr.SequenceNumber = header.SequenceNumber;
                break;
            case IcmpV6Type.PacketTooBig:
                repr.Mtu = header.Mtu;
                break;
            case IcmpV6Type.ParameterProblem:
                repr.Pointer = header.Pointer;
                break;
            case IcmpV6Type.DestinationUnreachable:
            case IcmpV6Type.TimeExceeded:
                break;
            default:
                repr = default;
                error = WireError.Unsupported;
                return false;
        }
        error = WireError.None;
        return true;
    }

    /// <summary>Header bytes <see cref="Emit"/> writes (8; the payload follows).</summary>
    public readonly int BufferLength => IcmpV6Header.HeaderLength;

    /// <summary>Writes the 8-byte header with checksum 0 and unused bytes 0.</summary>
    public readonly void Emit(Span<byte> buffer)
    {
        uint rest = Type switch
        {
            IcmpV6Type.EchoRequest or IcmpV6Type.EchoReply => ((uint)Identifier << 16) | SequenceNumber,
            IcmpV6Type.PacketTooBig => Mtu,
            IcmpV6Type.ParameterProblem => Pointer,
            _ => 0,
        };
        IcmpHeaderLayout.Write(buffer, (byte)Type, Code, rest);
    }
}
