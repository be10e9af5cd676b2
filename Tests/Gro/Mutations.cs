// One-field changes of a mergeable second segment that ARCHITECTURE.md §4 forbids merging, with the flush each causes.
using NetStack.Gro;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Tests.Gro;

/// <summary>
/// A change to the second of two mergeable segments. <see cref="Reason"/> is the flush GRO must count for the
/// held first segment (null: the second belongs to another flow, so nothing is flushed before the batch end).
/// </summary>
public sealed record Mutation(string Name, bool ForV4, bool ForV6, GroFlushReason? Reason, Func<SegmentSpec, SegmentSpec, SegmentSpec> Apply)
{
    public override string ToString() => Name;
}

public static class Mutations
{
    private static byte[] Flip(byte[] bytes, int index)
    {
        byte[] copy = (byte[])bytes.Clone();
        copy[index] ^= 0x01;
        return copy;
    }

    /// <summary>Every mutation; <c>first</c> is the held segment, <c>second</c> the mergeable one being changed.</summary>
    public static readonly Mutation[] All =
    [
        new("SequencePlusOne", true, true, GroFlushReason.SequenceGap, (f, s) => s with { Sequence = s.Sequence + 1 }),
        new("SequenceMinusOne", true, true, GroFlushReason.SequenceGap, (f, s) => s with { Sequence = s.Sequence - 1 }),
        new("Retransmission", true, true, GroFlushReason.SequenceGap, (f, s) => s with { Sequence = f.Sequence }),
        new("Ack", true, true, GroFlushReason.AckChanged, (f, s) => s with { Acknowledgment = s.Acknowledgment + 1 }),
        new("TimestampValue", true, true, GroFlushReason.TcpOptionsChanged,
            (f, s) => s with { TcpOptions = s.TcpOptions.Length > 0 ? Flip(s.TcpOptions, s.TcpOptions.Length - 5) : [1, 1, 1, 1] }),
        new("TimestampEcho", true, true, GroFlushReason.TcpOptionsChanged,
            (f, s) => s with { TcpOptions = s.TcpOptions.Length > 0 ? Flip(s.TcpOptions, s.TcpOptions.Length - 1) : [1, 1, 1, 0] }),
        new("DataOffset", true, true, GroFlushReason.TcpOptionsChanged, (f, s) => s with { TcpOptions = [.. s.TcpOptions, 1, 1, 1, 1] }),
        new("Ttl", true, true, GroFlushReason.IpHeaderChanged, (f, s) => s with { Ttl = (byte)(s.Ttl - 1) }),
        new("Tos", true, true, GroFlushReason.IpHeaderChanged, (f, s) => s with { Tos = (byte)(s.Tos ^ 0x04) }),
        new("EcnCongestionExperienced", true, true, GroFlushReason.IpHeaderChanged, (f, s) => s with { Tos = (byte)(s.Tos | 0x03) }),
        new("FlowLabel", false, true, GroFlushReason.IpHeaderChanged, (f, s) => s with { FlowLabel = s.FlowLabel ^ 0x10 }),
        new("DontFragment", true, false, GroFlushReason.IpHeaderChanged, (f, s) => s with { DontFragment = !s.DontFragment }),
        new("Ipv4ReservedFlag", true, false, GroFlushReason.IpHeaderChanged, (f, s) => s with { ReservedFlag = true }),
        new("Ipv4Options", true, false, GroFlushReason.PassThrough, (f, s) => s with { Ipv4Options = [1, 1, 1, 0] }),
        new("MoreFragments", true, false, GroFlushReason.PassThrough, (f, s) => s with { MoreFragments = true, DontFragment = false }),
        new("FragmentOffset", true, false, GroFlushReason.PassThrough, (f, s) => s with { FragmentOffset = 1480, DontFragment = false }),
        new("IpIdJump", true, false, GroFlushReason.IpIdNotSequential, (f, s) => s with { Identification = (ushort)(s.Identification + 1) }),
        new("IpIdConstant", true, false, GroFlushReason.IpIdNotSequential, (f, s) => s with { Identification = f.Identification }),
        new("ExtensionHeaderBytes", false, true, GroFlushReason.ExtensionHeadersChanged,
            (f, s) => s with { Extensions = s.Extensions.Length > 0 ? [SegmentSpec.DestinationOptions(0x55)] : [SegmentSpec.DestinationOptions()] }),
        new("ExtensionHeaderAdded", false, true, GroFlushReason.ExtensionHeadersChanged,
            (f, s) => s with { Extensions = [.. s.Extensions, new ExtensionSpec(IpProtocol.Ipv6DestinationOptions, [0, 0, 1, 4, 9, 9, 9, 9])] }),
        new("FlagEce", true, true, GroFlushReason.TcpFlagsChanged, (f, s) => s with { Flags = s.Flags ^ TcpFlags.Ece }),
        new("FlagAe", true, true, GroFlushReason.TcpFlagsChanged, (f, s) => s with { Flags = s.Flags ^ TcpFlags.Ae }),
        new("FlagAckCleared", true, true, GroFlushReason.TcpFlagsChanged, (f, s) => s with { Flags = s.Flags & ~TcpFlags.Ack }),
        new("FlagCwr", true, true, GroFlushReason.Cwr, (f, s) => s with { Flags = s.Flags | TcpFlags.Cwr }),
        new("FlagUrg", true, true, GroFlushReason.Urg, (f, s) => s with { Flags = s.Flags | TcpFlags.Urg, UrgentPointer = 3 }),
        new("FlagSyn", true, true, GroFlushReason.Syn, (f, s) => s with { Flags = s.Flags | TcpFlags.Syn }),
        new("FlagRst", true, true, GroFlushReason.Rst, (f, s) => s with { Flags = s.Flags | TcpFlags.Rst }),
        new("Window", true, true, GroFlushReason.WindowChanged, (f, s) => s with { Window = (ushort)(s.Window + 1) }),
        new("UrgentPointerField", true, true, GroFlushReason.TcpHeaderChanged, (f, s) => s with { UrgentPointer = (ushort)(s.UrgentPointer + 1) }),
        new("TcpReservedBits", true, true, GroFlushReason.TcpHeaderChanged, (f, s) => s with { TcpReserved = s.TcpReserved ^ 1 }),
        new("LargerPayload", true, true, GroFlushReason.LargerSegment, (f, s) => s with { Payload = SegmentSpec.Data(f.Payload.Length + 1, 99) }),
        new("NoPayload", true, true, GroFlushReason.NoPayload, (f, s) => s with { Payload = [] }),
        new("NotValidated", true, true, GroFlushReason.PassThrough, (f, s) => s with { Validated = false }),
        new("SourcePort", true, true, null, (f, s) => s with { SourcePort = (ushort)(s.SourcePort + 1) }),
        new("DestinationPort", true, true, null, (f, s) => s with { DestinationPort = (ushort)(s.DestinationPort ^ 0x100) }),
        new("SourceAddress", true, true, null, (f, s) => s with { Source = [10, 0, 0, 9], Source6 = [.. s.Source6[..15], 9] }),
        new("DestinationAddress", true, true, null, (f, s) => s with { Destination = [10, 0, 1, 2], Destination6 = [0xFE, .. s.Destination6[1..]] }),
    ];

    public static IEnumerable<object[]> Cases() =>
        All.SelectMany(m => new[] { (m, false), (m, true) }.Where(t => t.Item2 ? m.ForV6 : m.ForV4).Select(t => new object[] { t.m.Name, t.Item2 }));

    public static Mutation Named(string name) => All.Single(m => m.Name == name);
}
