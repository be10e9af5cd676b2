// Differential tests: our IPv6 emitter, extension-header builders and chain walker against PacketDotNet.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Testing.Generators;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Utils;
using PdnProtocolType = PacketDotNet.ProtocolType;

namespace NetStack.Tests.Stack.Wire;

public class Ipv6DifferentialTests
{
    // PacketDotNet walks hop-by-hop, routing, fragment and destination options headers; AH is left out.
    // PacketDotNet 1.4.8 reads the next-header, length and fragment fields of the first extension header for
    // every header of the chain, so it only walks chains whose headers all have the first one's length right:
    // the generator keeps every header at 8 bytes here (the chain shapes, types, order, fragment fields and
    // upper layer still vary). PacketDotNet also walks the experimental values 253 and 254 as extension
    // headers (IANA lists them so, RFC 4727); we report them as the upper layer, so they are left out here.
    [Property(MaxTest = 300)]
    public Property WeEmit_PacketDotNetParses_EveryFieldAgrees() => Prop.ForAll(
        Arb.From(IpGenerators.Ipv6Sample(withAh: false, shortHeaders: true).Where(s => s.UpperLayer != (IpProtocol)253)), sample =>
    {
        byte[] bytes = sample.Build();
        var packet = new IPv6Packet(new ByteArraySegment(bytes));

        Assert.Equal(IPVersion.IPv6, packet.Version);
        Assert.Equal(sample.Repr.TrafficClass, packet.TrafficClass);
        Assert.Equal((int)sample.Repr.FlowLabel, packet.FlowLabel);
        Assert.Equal(bytes.Length - 40, packet.PayloadLength);
        Assert.Equal(sample.Repr.HopLimit, packet.HopLimit);
        Assert.Equal(IPAddressConversions.FromIpv6Value(sample.Repr.Source), packet.SourceAddress);
        Assert.Equal(IPAddressConversions.FromIpv6Value(sample.Repr.Destination), packet.DestinationAddress);

        Assert.True(Ipv6Header.TryCreate(bytes, out Ipv6Header ip, out _));
        Assert.Equal((byte)ip.NextHeader, (byte)packet.NextHeader);
        Assert.True(Ipv6ExtensionWalker.TryWalk(ip, out Ipv6ExtensionChain chain, out WireError error), error.ToString());
        Assert.Equal((byte)chain.UpperLayerProtocol, (byte)packet.Protocol);
        Assert.Equal(chain.UpperLayerOffset, packet.ExtensionHeadersLength);

        // Same headers, same order, same lengths (next-header values are compared through Protocol above).
        Assert.Equal(sample.Extensions.Length, packet.ExtensionHeaders.Count);
        var walker = new Ipv6ExtensionWalker(ip);
        int index = 0;
        while (walker.MoveNext())
        {
            IPv6ExtensionHeader theirs = packet.ExtensionHeaders[index++];
            Assert.Equal((byte)walker.Current.Type, (byte)theirs.Header);
            Assert.Equal(walker.Current.Length, theirs.Length);
            // Its fragment fields come from the first header's bytes too: compare them when that is the fragment header.
            if (theirs is IPv6FragmentationExtensionHeader fragment && index == 1)
            {
                Assert.True(Ipv6FragmentHeader.TryCreate(walker.Current.Bytes, out Ipv6FragmentHeader ours, out _));
                Assert.Equal(ours.FragmentOffset / 8, fragment.FragmentOffset);
                Assert.Equal(ours.MoreFragments, fragment.More);
            }
        }
        Assert.Equal(sample.Extensions.Length, index);
    });

    private sealed record PdnFields(byte TrafficClass, int FlowLabel, byte HopLimit, UInt128 Source, UInt128 Destination, byte NextHeader, byte[] Payload);

    private static readonly Gen<PdnFields> PdnFieldsGen =
        from trafficClass in IpGenerators.Byte
        from flowLabel in Gen.Choose(0, 0xFFFFF)
        from hopLimit in IpGenerators.Byte
        from source in IpGenerators.UInt128Value
        from destination in IpGenerators.UInt128Value
        from next in Gen.Elements((byte)253, (byte)254, (byte)IpProtocol.Ipv6NoNext, (byte)IpProtocol.Tcp, (byte)IpProtocol.Udp)
        from payload in IpGenerators.Bytes(0, 64)
        select new PdnFields(trafficClass, flowLabel, hopLimit, source, destination, next, payload);

    [Property(MaxTest = 300)]
    public Property PacketDotNetBuilds_WeParse_EveryFieldAgrees() => Prop.ForAll(Arb.From(PdnFieldsGen), fields =>
    {
        var packet = new IPv6Packet(IPAddressConversions.FromIpv6Value(fields.Source), IPAddressConversions.FromIpv6Value(fields.Destination))
        {
            TrafficClass = fields.TrafficClass,
            FlowLabel = fields.FlowLabel,
            HopLimit = fields.HopLimit,
            NextHeader = (PdnProtocolType)fields.NextHeader,
            PayloadData = fields.Payload,
        };
        packet.UpdateCalculatedValues();
        // PacketDotNet 1.4.8 leaves the IPv6 payload length at 0 when the payload is raw data: set it.
        packet.PayloadLength = (ushort)fields.Payload.Length;
        byte[] bytes = packet.Bytes;

        Assert.True(Ipv6Header.TryCreate(bytes, out Ipv6Header ip, out WireError error), error.ToString());
        Assert.Equal(6, ip.Version);
        Assert.Equal(fields.TrafficClass, ip.TrafficClass);
        Assert.Equal((uint)fields.FlowLabel, ip.FlowLabel);
        Assert.Equal(fields.Payload.Length, ip.PayloadLength);
        Assert.Equal(fields.NextHeader, (byte)ip.NextHeader);
        Assert.Equal(fields.HopLimit, ip.HopLimit);
        Assert.Equal(fields.Source, ip.Source);
        Assert.Equal(fields.Destination, ip.Destination);
        Assert.Equal(fields.Payload, ip.Payload.ToArray());
        Assert.True(Ipv6ExtensionWalker.TryWalk(ip, out Ipv6ExtensionChain chain, out _));
        Assert.Equal(0, chain.UpperLayerOffset);
        Assert.Equal(fields.NextHeader, (byte)chain.UpperLayerProtocol);

        Assert.True(Ipv6Repr.TryParse(ip, out Ipv6Repr repr, out _));
        var emitted = new byte[Ipv6Repr.BufferLength];
        repr.Emit(emitted);
        Assert.Equal(bytes.AsSpan(0, 40).ToArray(), emitted);
    });
}
