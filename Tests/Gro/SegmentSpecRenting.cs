// Renting a SegmentSpec's bytes as a PacketBuffer, validated as the channel endpoint's RX path would.
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Tests.Gro;

public static class SegmentSpecRenting
{
    /// <summary>Rents the packet from <paramref name="pool"/> and runs the channel endpoint's RX validation on it (unless <see cref="SegmentSpec.Validated"/> is false).</summary>
    public static PacketBuffer Rent(this SegmentSpec spec, PacketBufferPool pool) =>
        RentBytes(pool, spec.Build(), spec.HeadPayload < 0 ? -1 : spec.HeaderLength + spec.HeadPayload, spec.Validated);

    /// <summary>Rents <paramref name="bytes"/>, the first <paramref name="headLength"/> in the head and the rest by reference (-1: all in the head).</summary>
    public static PacketBuffer RentBytes(PacketBufferPool pool, byte[] bytes, int headLength, bool validate)
    {
        PacketBuffer packet;
        if (headLength < 0 || headLength >= bytes.Length)
        {
            packet = pool.RentCopy(bytes);
        }
        else
        {
            packet = pool.RentCopy(bytes.AsSpan(0, headLength));
            using PacketBuffer rest = pool.RentCopy(bytes.AsSpan(headLength));
            Assert.True(packet.AppendReference(rest, 0, rest.Length));
        }
        if (validate)
        {
            RxVerdict verdict = RxChecksumValidator.Validate(packet, out RxDropReason reason);
            Assert.NotEqual(RxVerdict.Drop, verdict);
            Assert.Equal(RxDropReason.None, reason);
        }
        else
        {
            packet.NetworkProtocol = (bytes[0] >> 4) == 6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4;
        }
        return packet;
    }
}
