using System.Buffers.Binary;
using System.Net;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Testing.Generators;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Tcp;
using PacketDotNet.Utils;

namespace NetStack.Tests.Stack.Wire;

/// <summary>Differential tests against PacketDotNet 1.4.8: we build, it parses; it builds, we parse.</summary>
public class TcpDifferentialTests
{
    private static byte[] BuildSegment(TcpRepr repr, byte[] payload, bool v6)
    {
        var segment = new byte[repr.BufferLength + payload.Length];
        repr.Emit(segment);
        payload.CopyTo(segment, repr.BufferLength);
        uint pseudo = v6 ? TestIp.PseudoV6(IpProtocol.Tcp, segment.Length) : TestIp.PseudoV4(IpProtocol.Tcp, segment.Length);
        TcpHeader.WriteChecksum(segment, pseudo);
        return segment;
    }

    [Property(MaxTest = 200)]
    public Property OurSegment_PacketDotNetAgrees() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.TcpReprGen, Gen.Zip(TransportGenerators.PayloadGen(64), Gen.Elements(false, true)))),
        t =>
        {
            (TcpRepr repr, (byte[] payload, bool v6)) = t;
            byte[] segment = BuildSegment(repr, payload, v6);
            byte[] packet = v6 ? TestIp.V6(IpProtocol.Tcp, segment) : TestIp.V4(IpProtocol.Tcp, segment);
            IPPacket ip = v6 ? new IPv6Packet(new ByteArraySegment(packet)) : new IPv4Packet(new ByteArraySegment(packet));
            var tcp = Assert.IsType<TcpPacket>(ip.PayloadPacket);

            Assert.Equal(repr.SourcePort, tcp.SourcePort);
            Assert.Equal(repr.DestinationPort, tcp.DestinationPort);
            Assert.Equal(repr.SequenceNumber, tcp.SequenceNumber);
            Assert.Equal(repr.AcknowledgmentNumber, tcp.AcknowledgmentNumber);
            Assert.Equal(repr.BufferLength / 4, tcp.DataOffset);
            Assert.Equal((ushort)repr.Flags & 0xFF, tcp.Flags & 0xFF);
            Assert.Equal((repr.Flags & TcpFlags.Ae) != 0, tcp.NonceSum);
            Assert.Equal((repr.Flags & TcpFlags.Syn) != 0, tcp.Synchronize);
            Assert.Equal((repr.Flags & TcpFlags.Cwr) != 0, tcp.CongestionWindowReduced);
            Assert.Equal(repr.WindowSize, tcp.WindowSize);
            Assert.Equal(repr.UrgentPointer, (ushort)tcp.UrgentPointer); // PacketDotNet reads it as a signed short
            Assert.Equal(payload, tcp.PayloadData ?? []);
            Assert.True(tcp.ValidTcpChecksum);
            Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(16)), tcp.CalculateTcpChecksum());

            // The option bytes PacketDotNet sliced out of the header (by its own data-offset reading) are ours.
            Assert.Equal(segment.AsSpan(TcpHeader.MinLength, repr.OptionsLength).ToArray(), tcp.HeaderData.AsSpan(TcpHeader.MinLength).ToArray());
            TcpPacket optionSource = tcp;
            if ((repr.Flags & TcpFlags.Urg) != 0)
            {
                // PacketDotNet 1.4.8 does not parse options of a segment with URG set (its option parser refuses
                // it); the flag does not change the option layout, so its parse of the same bytes with URG clear
                // is compared instead.
                byte[] plain = (byte[])segment.Clone();
                plain[13] &= 0xDF;
                byte[] plainPacket = v6 ? TestIp.V6(IpProtocol.Tcp, plain) : TestIp.V4(IpProtocol.Tcp, plain);
                IPPacket plainIp = v6 ? new IPv6Packet(new ByteArraySegment(plainPacket)) : new IPv4Packet(new ByteArraySegment(plainPacket));
                optionSource = Assert.IsType<TcpPacket>(plainIp.PayloadPacket);
            }
            var options = optionSource.OptionsCollection ?? [];
            Assert.Equal(repr.MaxSegmentSize, options.OfType<MaximumSegmentSizeOption>().Select(o => (ushort?)o.Value).SingleOrDefault());
            Assert.Equal(repr.WindowScale, options.OfType<WindowScaleFactorOption>().Select(o => (byte?)o.ScaleFactor).SingleOrDefault());
            Assert.Equal(repr.SackPermitted, options.OfType<SelectiveAcknowledgmentPermittedOption>().Any());
            Assert.Equal(
                repr.Timestamps,
                options.OfType<TimeStampOption>().Select(o => (TcpTimestamps?)new TcpTimestamps(o.Value, o.EchoReply)).SingleOrDefault());
            var sack = options.OfType<SelectiveAcknowledgmentOption>().SingleOrDefault();
            Assert.Equal(repr.SackBlocks.Count, sack is null ? 0 : (sack.Length - 2) / 8);
        });

    [Property(MaxTest = 200)]
    public Property PacketDotNetSegment_WeAgree() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.TcpReprGen, Gen.Zip(TransportGenerators.PayloadGen(64), Gen.Elements(false, true)))),
        t =>
        {
            (TcpRepr fields, (byte[] payload, bool v6)) = t;
            // PacketDotNet builds the header; the option bytes come from a known-good layout.
            byte[] options = new byte[fields.OptionsLength];
            byte[] scratch = new byte[fields.BufferLength];
            fields.Emit(scratch);
            scratch.AsSpan(20).CopyTo(options);

            // PacketDotNet's Options setter copies into the existing header without growing it, so start from a
            // zeroed header of the right size with only the data offset set.
            var headerBytes = new byte[fields.BufferLength];
            headerBytes[12] = (byte)((fields.BufferLength / 4) << 4);
            var tcp = new TcpPacket(new ByteArraySegment(headerBytes))
            {
                SourcePort = fields.SourcePort,
                DestinationPort = fields.DestinationPort,
                SequenceNumber = fields.SequenceNumber,
                AcknowledgmentNumber = fields.AcknowledgmentNumber,
                WindowSize = fields.WindowSize,
                UrgentPointer = fields.UrgentPointer,
                Options = options,
            };
            tcp.Flags = (ushort)fields.Flags;
            tcp.PayloadData = payload;
            IPPacket ip = v6
                ? new IPv6Packet(new IPAddress(TestIp.V6Source), new IPAddress(TestIp.V6Destination))
                : new IPv4Packet(new IPAddress(TestIp.V4Source), new IPAddress(TestIp.V4Destination));
            ip.PayloadPacket = tcp;
            ip.UpdateCalculatedValues();
            tcp.UpdateTcpChecksum();
            byte[] packet = ip.Bytes;

            int ipLength = v6 ? 40 : 20;
            ReadOnlySpan<byte> segment = packet.AsSpan(ipLength);
            Assert.True(TcpHeader.TryCreate(segment, out var header, out var error), error.ToString());
            uint pseudo = v6 ? TestIp.PseudoV6(IpProtocol.Tcp, segment.Length) : TestIp.PseudoV4(IpProtocol.Tcp, segment.Length);
            Assert.True(header.VerifyChecksum(pseudo));
            Assert.Equal(tcp.Checksum, header.Checksum);
            Assert.Equal(payload, header.Payload.ToArray());
            Assert.True(TcpRepr.TryParse(header, out var parsed, out error), error.ToString());
            Assert.Equal(fields, parsed);
        });
}
