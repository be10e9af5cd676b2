using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Gso;
using NetStack.Link.Tun;
using NetStack.Tests.Support;

namespace NetStack.Tests.LinkEndpoint.Tun;

/// <summary>Untrusted input: whatever header and bytes the device hands over, judging them never throws, and what passes is a packet RX validation can take.</summary>
public class VirtioInboundPropertyTests
{
    private static Gen<(byte[] Packet, VirtioNetHeader Header)> Inputs()
    {
        Gen<byte[]> mutatedSuper =
            from v6 in Gen.Elements(false, true)
            from length in Gen.Choose(0, 6000)
            from flips in Gen.Choose(0, 4)
            from seed in Gen.Choose(0, int.MaxValue)
            select Mutate(GsoPackets.Super(v6, Packets.Payload(length, seed)), flips, seed);
        Gen<byte[]> random = from n in Gen.Choose(0, 200) from seed in Gen.Choose(0, int.MaxValue) select Packets.Payload(n, seed);
        Gen<VirtioNetHeader> header =
            from flags in Gen.Elements(0, 1, 2, 3, 0x80)
            from type in Gen.Elements(0, 1, 3, 4, 5, 0x81, 9)
            from hdrLen in Gen.Choose(0, 70000)
            from gsoSize in Gen.Elements(0, 1, 100, 1448, 65535)
            from start in Gen.Elements(0, 19, 20, 40, 60, 70000)
            from offset in Gen.Elements(0, 6, 16, 65535)
            select new VirtioNetHeader
            {
                Flags = (VirtioNetFlags)flags,
                GsoTypeByte = (byte)type,
                HeaderLength = (ushort)Math.Min(hdrLen, 65535),
                GsoSize = (ushort)gsoSize,
                ChecksumStart = (ushort)Math.Min(start, 65535),
                ChecksumOffset = (ushort)offset
            };
        return from packet in Gen.OneOf(mutatedSuper, random) from h in header select (packet, h);
    }

    private static byte[] Mutate(byte[] packet, int flips, int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < flips && packet.Length > 0; i++)
        {
            packet[random.Next(Math.Min(packet.Length, 80))] ^= (byte)(1 << random.Next(8));
        }
        return packet;
    }

    [Property(MaxTest = 2000)]
    public Property Prepare_NeverThrows_AndWhatPassesSplitsOrValidatesWithoutThrowing() => Prop.ForAll(Arb.From(Inputs()), input =>
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions());
        PacketBuffer packet = pool.Pool.RentCopy(input.Packet);
        TunDropReason reason = VirtioInbound.Prepare(packet, input.Header);
        if (reason == TunDropReason.None)
        {
            _ = RxChecksumValidator.Validate(packet, out _);
            var output = new PacketBuffer[256];
            if (packet.Gso.Type == GsoType.UdpL4 ? UdpGsoSplitter.TrySplit(packet, pool.Pool, output, out int count)
                : GsoSegmenter.TrySplit(packet, pool.Pool, output, out count, out _))
            {
                for (int i = 0; i < count; i++)
                {
                    output[i].Release();
                }
            }
        }
        packet.Release();
        return true;
    });

    [Property(MaxTest = 300)]
    public Property KernelStyleSuperPacket_AcceptedAndValidates() => Prop.ForAll(Arb.From(
        from v6 in Gen.Elements(false, true)
        from segments in Gen.Choose(1, 40)
        from tail in Gen.Choose(1, GsoPackets.Mss)
        select (v6, (segments - 1) * GsoPackets.Mss + tail)), input =>
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions());
        byte[] super = GsoPackets.Super(input.v6, Packets.Payload(input.Item2));
        using PacketBuffer packet = pool.Pool.RentCopy(super);
        var header = new VirtioNetHeader
        {
            Flags = VirtioNetFlags.NeedsChecksum,
            GsoTypeByte = (byte)(input.v6 ? 4 : 1),
            GsoSize = GsoPackets.Mss,
            ChecksumStart = (ushort)(input.v6 ? 40 : 20),
            ChecksumOffset = 16,
        };
        return VirtioInbound.Prepare(packet, header) == TunDropReason.None
            && RxChecksumValidator.Validate(packet, out _) == RxVerdict.Validated
            && packet.SegmentsRepresented == (input.Item2 + GsoPackets.Mss - 1) / GsoPackets.Mss;
    });
}
