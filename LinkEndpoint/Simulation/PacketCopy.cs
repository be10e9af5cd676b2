// Layer: simulated links. Deep packet copies for the impairments (duplication, copy-on-write corruption) and floods.
using NetStack.Buffers;

namespace NetStack.Link.Simulation;

/// <summary>Deep copies of packets for copy-on-write (corruption) and duplication: a fresh pooled buffer with the same bytes and metadata.</summary>
internal static class PacketCopy
{
    /// <summary>
    /// Rents a buffer from the packet's pool holding a contiguous copy of all its fragments, with the same
    /// headroom and metadata. The caller keeps its reference to <paramref name="packet"/>.
    /// </summary>
    public static PacketBuffer Clone(PacketBuffer packet)
    {
        int length = packet.Length;
        PacketBuffer copy = packet.Pool.Rent(length, packet.Headroom);
        packet.CopyTo(copy.Append(length));
        copy.NetworkProtocol = packet.NetworkProtocol;
        copy.RxChecksumValidated = packet.RxChecksumValidated;
        copy.Gso = packet.Gso;
        copy.SegmentsRepresented = packet.SegmentsRepresented;
        return copy;
    }
}
