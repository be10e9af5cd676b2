// IPv4 fragment reassembly (RFC 791 §3.2) under the shared reassembly engine.
using NetStack.Testing;
using NetStack.Testing.Generators;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// IPv4 reassembly: harness datagrams 10.99.0.(index+1) → 10.99.1.1 with options on odd indices (travelling in the
/// first fragment only); see <see cref="ReassemblyTarget"/> for the input and the invariants.
/// </summary>
public sealed class Ipv4ReassemblyTarget : ReassemblyTarget
{
    private static readonly byte[] Options = [0x94, 0x04, 0x00, 0x00]; // router alert (RFC 2113), not copied

    /// <inheritdoc/>
    public override string Name => "Ipv4Reassembly";

    /// <inheritdoc/>
    protected override int Version => 4;

    /// <inheritdoc/>
    protected override byte[] BuildDatagram(int index, int payloadLength, IpProtocol protocol, uint identification, ReadOnlySpan<byte> payload)
    {
        byte[] transport = Transport(protocol, payload);
        return PacketGenerators.Ipv4Packet(protocol, 0x0A63_0001u + (uint)index, 0x0A63_0101, transport, ttl: 64,
            identification: (ushort)identification, dontFragment: false, options: (index & 1) != 0 ? Options : default);
    }

    /// <inheritdoc/>
    protected override byte[][] Cut(byte[] packet, IReadOnlyList<int> cuts) => FragmentGenerators.Ipv4Fragments(packet, cuts);

    /// <inheritdoc/>
    protected override int MinimumFirstPiece(byte[] packet) => 8;

    /// <inheritdoc/>
    protected override int UnfragmentableLength(byte[] packet) => Ipv4Header.GetHeaderLength(packet);

    /// <inheritdoc/>
    protected override byte[] Expected(byte[] packet) => packet;

    /// <inheritdoc/>
    protected override bool MayShareKey(ReadOnlySpan<byte> raw, byte[] datagram) =>
        raw.Length < 20 || (raw[12] == datagram[12] && raw[13] == datagram[13]);
}
