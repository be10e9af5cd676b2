// Differential tests: our IPv4 emitter and parser against PacketDotNet, in both directions.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Testing.Generators;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Utils;
using PdnProtocolType = PacketDotNet.ProtocolType;

namespace NetStack.Tests.Stack.Wire;

public class Ipv4DifferentialTests
{
    /// <summary>PacketDotNet's FragmentFlags: reserved, DF, MF from the most significant bit down.</summary>
    private static int FragmentFlags(bool reserved, bool dontFragment, bool moreFragments) =>
        (reserved ? 4 : 0) | (dontFragment ? 2 : 0) | (moreFragments ? 1 : 0);

    [Property(MaxTest = 300)]
    public Property WeEmit_PacketDotNetParses_EveryFieldAgrees() => Prop.ForAll(Arb.From(IpGenerators.Ipv4Sample()), sample =>
    {
        byte[] bytes = sample.Build();
        Ipv4Repr repr = sample.Repr;

        // PacketDotNet parses the payload lazily; only header fields and lengths are read here.
        var packet = new IPv4Packet(new ByteArraySegment(bytes));

        Assert.Equal(IPVersion.IPv4, packet.Version);
        Assert.Equal(repr.HeaderLength / 4, packet.HeaderLength);
        Assert.Equal(repr.TotalLength, packet.TotalLength);
        Assert.Equal(repr.PayloadLength, packet.PayloadLength);
        Assert.Equal((repr.Dscp << 2) | repr.Ecn, packet.TypeOfService);
        Assert.Equal(repr.Identification, packet.Id);
        Assert.Equal(FragmentFlags(false, repr.DontFragment, repr.MoreFragments), packet.FragmentFlags);
        Assert.Equal(repr.FragmentOffset / 8, packet.FragmentOffset);
        Assert.Equal(repr.TimeToLive, packet.TimeToLive);
        Assert.Equal((byte)repr.Protocol, (byte)packet.Protocol);
        Assert.True(packet.ValidIPChecksum);
        Assert.Equal(IPAddressConversions.FromIpv4Value(repr.Source), packet.SourceAddress);
        Assert.Equal(IPAddressConversions.FromIpv4Value(repr.Destination), packet.DestinationAddress);
        Assert.Equal(bytes.AsSpan(0, repr.HeaderLength).ToArray(), packet.HeaderData);

        Assert.True(Ipv4Header.TryCreate(bytes, out Ipv4Header ip, out _));
        Assert.Equal(ip.Checksum, packet.Checksum);
        Assert.Equal(packet.CalculateIPChecksum(), ip.Checksum);
    });

    private sealed record PdnFields(uint Source, uint Destination, byte Tos, ushort Id, bool Reserved, bool Df, bool Mf, int OffsetUnits,
        byte Ttl, byte Protocol, byte[] Payload);

    private static readonly Gen<PdnFields> PdnFieldsGen =
        from source in IpGenerators.UInt32
        from destination in IpGenerators.UInt32
        from tos in IpGenerators.Byte
        from id in Gen.Choose(0, 0xFFFF)
        from reserved in Gen.Elements(true, false)
        from df in Gen.Elements(true, false)
        from mf in Gen.Elements(true, false)
        from offset in Gen.Choose(0, 0x1FFF)
        from ttl in IpGenerators.Byte
        from protocol in Gen.Elements((byte)253, (byte)254, (byte)IpProtocol.Tcp, (byte)IpProtocol.Udp, (byte)IpProtocol.Icmp)
        from payload in IpGenerators.Bytes(0, 64)
        select new PdnFields(source, destination, tos, (ushort)id, reserved, df, mf, offset, ttl, protocol, payload);

    [Property(MaxTest = 300)]
    public Property PacketDotNetBuilds_WeParse_EveryFieldAgrees() => Prop.ForAll(Arb.From(PdnFieldsGen), fields =>
    {
        var packet = new IPv4Packet(IPAddressConversions.FromIpv4Value(fields.Source), IPAddressConversions.FromIpv4Value(fields.Destination))
        {
            TypeOfService = fields.Tos,
            Id = fields.Id,
            FragmentFlags = FragmentFlags(fields.Reserved, fields.Df, fields.Mf),
            FragmentOffset = fields.OffsetUnits,
            TimeToLive = fields.Ttl,
            Protocol = (PdnProtocolType)fields.Protocol,
            PayloadData = fields.Payload,
        };
        packet.UpdateCalculatedValues();
        packet.UpdateIPChecksum(); // UpdateCalculatedValues leaves the checksum alone
        byte[] bytes = packet.Bytes;

        Assert.True(Ipv4Header.TryCreate(bytes, out Ipv4Header ip, out WireError error), error.ToString());
        Assert.Equal(4, ip.Version);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(bytes.Length, ip.TotalLength);
        Assert.Equal(fields.Tos >> 2, ip.Dscp);
        Assert.Equal(fields.Tos & 3, ip.Ecn);
        Assert.Equal(fields.Id, ip.Identification);
        Assert.Equal(fields.Reserved, ip.ReservedFlag);
        Assert.Equal(fields.Df, ip.DontFragment);
        Assert.Equal(fields.Mf, ip.MoreFragments);
        Assert.Equal(fields.OffsetUnits * 8, ip.FragmentOffset);
        Assert.Equal(fields.Mf || fields.OffsetUnits != 0, ip.IsFragment);
        Assert.Equal(fields.Ttl, ip.TimeToLive);
        Assert.Equal(fields.Protocol, (byte)ip.Protocol);
        Assert.Equal(fields.Source, ip.Source);
        Assert.Equal(fields.Destination, ip.Destination);
        Assert.Equal(packet.Checksum, ip.Checksum);
        Assert.True(ip.VerifyChecksum());
        Assert.Equal(fields.Payload, ip.Payload.ToArray());

        Assert.True(Ipv4Repr.TryParse(ip, out Ipv4Repr repr, out _));
        if (!fields.Reserved)
        {
            var emitted = new byte[repr.BufferLength];
            repr.Emit(emitted);
            Assert.Equal(bytes.AsSpan(0, 20).ToArray(), emitted);
        }
    });
}
