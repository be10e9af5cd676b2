// Differential tests: the transport-header locator against PacketDotNet's IPv4 and IPv6 parsers, and against
// itself when the packet's payload lies outside the head.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Testing.Generators;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Utils;

namespace NetStack.Tests.Stack.Wire;

public class IpLayoutDifferentialTests
{
    [Property(MaxTest = 300)]
    public Property Ipv4_LocatorAgreesWithPacketDotNet() => Prop.ForAll(Arb.From(IpGenerators.Ipv4Sample()), sample =>
    {
        byte[] bytes = [.. sample.Build(), 0, 0, 0]; // link padding
        var theirs = new IPv4Packet(new ByteArraySegment(bytes));

        Assert.True(IpLayout.TryLocate(bytes, bytes.Length, out IpLayout ours, out WireError error), error.ToString());
        Assert.Equal(theirs.HeaderLength * 4, ours.TransportOffset);
        Assert.Equal(theirs.TotalLength, ours.Length);
        Assert.Equal(theirs.PayloadLength, ours.TransportLength);
        Assert.Equal((byte)theirs.Protocol, (byte)ours.Protocol);
        Assert.Equal(theirs.Id, (ushort)ours.Identification);
        Assert.Equal(theirs.FragmentOffset * 8, ours.FragmentOffset);
        Assert.Equal((theirs.FragmentFlags & 1) != 0, ours.MoreFragments);
        Assert.Equal((theirs.FragmentFlags & 1) != 0 || theirs.FragmentOffset != 0, ours.IsFragment);
    });

    // PacketDotNet walks every extension header (see Ipv6DifferentialTests for the chains it reads right); the
    // locator stops at the first Fragment header (RFC 8200 §4.5), so the expected layout is read from its list.
    [Property(MaxTest = 300)]
    public Property Ipv6_LocatorAgreesWithPacketDotNet() => Prop.ForAll(
        Arb.From(IpGenerators.Ipv6Sample(withAh: false, shortHeaders: true).Where(s => s.UpperLayer != (IpProtocol)253)), sample =>
    {
        byte[] bytes = sample.Build();
        var theirs = new IPv6Packet(new ByteArraySegment(bytes));

        int offset = Ipv6Header.Length;
        byte protocol = (byte)theirs.Protocol;
        bool fragment = false;
        bool routing = false;
        for (int i = 0; i < theirs.ExtensionHeaders.Count; i++)
        {
            IPv6ExtensionHeader header = theirs.ExtensionHeaders[i];
            offset += header.Length;
            routing |= (byte)header.Header == (byte)IpProtocol.Ipv6Route;
            if ((byte)header.Header == (byte)IpProtocol.Ipv6Fragment)
            {
                fragment = true;
                protocol = i + 1 < theirs.ExtensionHeaders.Count ? (byte)theirs.ExtensionHeaders[i + 1].Header : (byte)theirs.Protocol;
                break;
            }
        }

        Assert.True(IpLayout.TryLocate(bytes, bytes.Length, out IpLayout ours, out WireError error), error.ToString());
        Assert.Equal(offset, ours.TransportOffset);
        Assert.Equal(protocol, (byte)ours.Protocol);
        Assert.Equal(fragment, ours.IsFragment);
        Assert.Equal(routing, ours.HasRoutingHeader);
        Assert.Equal(Ipv6Header.Length + theirs.PayloadLength, ours.Length);
        Assert.Equal(theirs.ExtensionHeaders.Count > 0, ours.HasExtensionHeaders);
    });

    private static readonly Gen<(byte[] Packet, int Head)> Split =
        from packet in PacketGenerators.Any()
        from extra in Gen.Choose(0, 64)
        select (packet.Bytes, extra);

    [Property(MaxTest = 300)]
    public Property PayloadOutsideTheHead_SameLayoutAsFlat() => Prop.ForAll(Arb.From(Split), input =>
    {
        (byte[] packet, int extra) = input;
        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout flat, out _));
        int head = Math.Min(packet.Length, flat.TransportOffset + extra);

        Assert.True(IpLayout.TryLocate(packet.AsSpan(0, head), packet.Length, out IpLayout split, out WireError error), error.ToString());
        Assert.Equal(flat.TransportOffset, split.TransportOffset);
        Assert.Equal(flat.Length, split.Length);
        Assert.Equal(flat.Protocol, split.Protocol);
        Assert.Equal(flat.IsFragment, split.IsFragment);
        Assert.Equal(flat.ProtocolFieldOffset, split.ProtocolFieldOffset);
        if (head > flat.TransportOffset)
        {
            Assert.False(IpLayout.TryLocate(packet.AsSpan(0, head), packet.Length - 1, out _, out _)); // a length past the packet
        }
    });
}
