// IPv6 fragment reassembly (RFC 8200 §4.5, RFC 5722, RFC 7112) under the shared reassembly engine.
using NetStack.Testing;
using NetStack.Testing.Generators;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// IPv6 reassembly: harness datagrams fd99::(index+1) → fd99::100 with a hop-by-hop header (unfragmentable) on odd
/// indices and a destination options header (fragmentable) on indices 2 and 3; see <see cref="ReassemblyTarget"/>
/// for the input and the invariants.
/// </summary>
public sealed class Ipv6ReassemblyTarget : ReassemblyTarget
{
    /// <inheritdoc/>
    public override string Name => "Ipv6Reassembly";

    /// <inheritdoc/>
    protected override int Version => 6;

    /// <inheritdoc/>
    protected override byte[] BuildDatagram(int index, int payloadLength, IpProtocol protocol, uint identification, ReadOnlySpan<byte> payload)
    {
        _ = identification; // the fragment header's ID is chosen at cut time
        var header = new Ipv6Repr
        {
            HopLimit = 64,
            FlowLabel = (uint)index,
            Source = new UInt128(0xFD99_0000_0000_0000, (ulong)index + 1),
            Destination = new UInt128(0xFD99_0000_0000_0000, 0x100),
        };
        var extensions = new List<(IpProtocol, byte[])>();
        if ((index & 1) != 0)
        {
            extensions.Add(PacketGenerators.OptionsHeader(IpProtocol.HopByHop, [1, 2, 0, 0]));
        }
        if (index >= 2)
        {
            extensions.Add(PacketGenerators.OptionsHeader(IpProtocol.Ipv6DestinationOptions, [1, 4, 0, 0, 0, 0]));
        }
        byte[] transport = Transport(protocol, payload);
        return PacketGenerators.Ipv6Packet(protocol, header, extensions, transport);
    }

    /// <inheritdoc/>
    protected override byte[][] Cut(byte[] packet, IReadOnlyList<int> cuts) =>
        FragmentGenerators.Ipv6Fragments(packet, 0x0100_0000u | packet[23], cuts);

    /// <inheritdoc/>
    protected override int MinimumFirstPiece(byte[] packet) => FragmentGenerators.Ipv6MinimumFirstFragment(packet);

    /// <inheritdoc/>
    protected override int UnfragmentableLength(byte[] packet) =>
        packet[6] == (byte)IpProtocol.HopByHop ? 40 + ((packet[41] + 1) * 8) : 40;

    /// <inheritdoc/>
    protected override byte[] Expected(byte[] packet) => packet;

    /// <inheritdoc/>
    protected override bool MayShareKey(ReadOnlySpan<byte> raw, byte[] datagram) =>
        raw.Length < 40 || raw.Slice(8, 16).SequenceEqual(datagram.AsSpan(8, 16));
}
