// ICMPv4 message representation (RFC 792, RFC 1191) and its emitter.
namespace NetStack.Wire;

/// <summary>
/// A supported ICMPv4 message as a small tagged value: <see cref="Type"/> is the tag and says which of the
/// type-specific fields mean something (the others are 0). Supported: echo request/reply
/// (<see cref="Identifier"/>, <see cref="SequenceNumber"/>), destination unreachable
/// (<see cref="NextHopMtu"/> for fragmentation needed, RFC 1191), time exceeded, parameter problem
/// (<see cref="Pointer"/>), source quench (deprecated by RFC 6633: parsed so the stack can recognise and ignore it). The payload (echo data or invoking packet) is not held: it is
/// <see cref="IcmpV4Header.Payload"/> on receive, and on send the caller places it after the header and
/// calls <see cref="IcmpV4Header.WriteChecksum(Span{byte})"/> (so the repr stays a plain value type).
/// </summary>
public record struct IcmpV4Repr
{
    /// <summary>Message type: the tag.</summary>
    public IcmpV4Type Type;
    /// <summary>Message code.</summary>
    public byte Code;
    /// <summary>Echo identifier (echo request/reply only).</summary>
    public ushort Identifier;
    /// <summary>Echo sequence number (echo request/reply only).</summary>
    public ushort SequenceNumber;
    /// <summary>Next-hop MTU (destination unreachable only; meaningful with code 4, RFC 1191 §4).</summary>
    public ushort NextHopMtu;
    /// <summary>Offending octet (parameter problem only).</summary>
    public byte Pointer;

    /// <summary>An echo request (RFC 792).</summary>
    public static IcmpV4Repr EchoRequest(ushort identifier, ushort sequenceNumber) =>
        new() { Type = IcmpV4Type.EchoRequest, Identifier = identifier, SequenceNumber = sequenceNumber };

    /// <summary>An echo reply (RFC 792).</summary>
    public static IcmpV4Repr EchoReply(ushort identifier, ushort sequenceNumber) =>
        new() { Type = IcmpV4Type.EchoReply, Identifier = identifier, SequenceNumber = sequenceNumber };

    /// <summary>A destination unreachable; use <see cref="FragmentationNeeded"/> for code 4.</summary>
    public static IcmpV4Repr DestinationUnreachable(IcmpV4UnreachableCode code) =>
        new() { Type = IcmpV4Type.DestinationUnreachable, Code = (byte)code };

    /// <summary>Fragmentation needed and DF set, with the next-hop MTU (RFC 1191 §4).</summary>
    public static IcmpV4Repr FragmentationNeeded(ushort nextHopMtu) =>
        new() { Type = IcmpV4Type.DestinationUnreachable, Code = (byte)IcmpV4UnreachableCode.FragmentationNeeded, NextHopMtu = nextHopMtu };

    /// <summary>Time exceeded: code 0 TTL exceeded in transit, 1 reassembly time exceeded (RFC 792).</summary>
    public static IcmpV4Repr TimeExceeded(byte code) => new() { Type = IcmpV4Type.TimeExceeded, Code = code };

    /// <summary>Parameter problem pointing at octet <paramref name="pointer"/> of the invoking header (RFC 792).</summary>
    public static IcmpV4Repr ParameterProblem(byte pointer) => new() { Type = IcmpV4Type.ParameterProblem, Pointer = pointer };

    /// <summary>True for the error messages (destination unreachable, time exceeded, parameter problem, source quench).</summary>
    public readonly bool IsError => Type is IcmpV4Type.DestinationUnreachable or IcmpV4Type.TimeExceeded or IcmpV4Type.ParameterProblem
        or IcmpV4Type.SourceQuench;

    /// <summary>
    /// Reads a supported message; other types fail with <see cref="WireError.Unsupported"/>. Unused bytes
    /// are ignored. The checksum is not verified here (<see cref="IcmpV4Header.VerifyChecksum()"/>).
    /// </summary>
    public static bool TryParse(in IcmpV4Header header, out IcmpV4Repr repr, out WireError error)
    {
        repr = new IcmpV4Repr { Type = header.Type, Code = header.Code };
        switch (header.Type)
        {
            case IcmpV4Type.EchoRequest:
            case IcmpV4Type.EchoReply:
                repr.Identifier = header.Identifier;
                repr.SequenceNumber = header.SequenceNumber;
                break;
            case IcmpV4Type.DestinationUnreachable:
                repr.NextHopMtu = header.NextHopMtu;
                break;
            case IcmpV4Type.TimeExceeded:
            case IcmpV4Type.SourceQuench:
                break;
            case IcmpV4Type.ParameterProblem:
                repr.Pointer = header.Pointer;
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
    public readonly int BufferLength => IcmpV4Header.HeaderLength;

    /// <summary>Writes the 8-byte header with checksum 0 and unused bytes 0.</summary>
    public readonly void Emit(Span<byte> buffer)
    {
        uint rest = Type switch
        {
            IcmpV4Type.EchoRequest or IcmpV4Type.EchoReply => ((uint)Identifier << 16) | SequenceNumber,
            IcmpV4Type.DestinationUnreachable => NextHopMtu,
            IcmpV4Type.ParameterProblem => (uint)Pointer << 24,
            _ => 0,
        };
        IcmpHeaderLayout.Write(buffer, (byte)Type, Code, rest);
    }
}
