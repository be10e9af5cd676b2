using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Tun;

public sealed partial class TunEndpoint
{
    private const uint ProbeAddress = 0x7F00_0001; // 127.0.0.1: a martian on a TUN, dropped by the kernel after it accepts the write

    /// <summary>
    /// Some kernels reject GRO'd (GSO) writes with EINVAL (a virtio_net_hdr regression). Writes two TCP
    /// segments that GRO on write merges, through the same path as real traffic, and switches TCP GRO on
    /// write off when the kernel refuses; UDP (USO) gets its own probe and its own switch. The probe is a 127.0.0.1 → 127.0.0.1 packet with TTL 0: once the
    /// write is accepted, the kernel drops it as a martian, so it reaches no one.
    /// </summary>
    internal void ProbeGroOnWrite()
    {
        if (UdpGroOnWrite)
        {
            ProbeUdpGroOnWrite();
        }
        if (_writeGro is null || !TcpGroOnWrite)
        {
            return;
        }
        ReadOnlySpan<byte> fingerprint = "netstack-tun-gro-probe"u8;
        _writeOutCount = 0;
        for (int i = 0; i < 2; i++)
        {
            PacketBuffer segment = BuildProbeSegment(fingerprint, i);
            segment.RxChecksumValidated = true;
            _writeGro.Enqueue(segment);
        }
        _writeGro.Flush();
        if (_writeOutCount != 1 || _writeOut[0].SegmentsRepresented != 2)
        {
            _logger.LogTunWarning(Device.Name, "GRO on write probe: the probe segments were not merged; probe inconclusive");
            ReleaseCollected();
            return;
        }
        long rejectedBefore = Drops[TunDropReason.WriteRejected];
        long failedBefore = Drops[TunDropReason.WriteFailed];
        PacketBuffer merged = _writeOut[0];
        _writeOut[0] = null!;
        _writeOutCount = 0;
        WriteAndRelease(merged);
        if (Drops[TunDropReason.WriteRejected] > rejectedBefore)
        {
            TcpGroOnWrite = false;
            _logger.LogTunWarning(Device.Name, "the kernel rejects GRO'd TCP writes (EINVAL): TCP GRO on write disabled");
        }
        else if (Drops[TunDropReason.WriteFailed] > failedBefore)
        {
            _logger.LogTunWarning(Device.Name, $"GRO on write probe: write failed ({LinuxNative.Describe(_lastWriteError)}); probe inconclusive, GRO on write kept");
        }
        else
        {
            _logger.LogTunInfo(Device.Name, "GRO on write probe accepted: TCP GRO on write on");
        }
    }

    /// <summary>The same for UDP: two datagrams the coalescer merges into one USO packet (the kernel's USO write path).</summary>
    private void ProbeUdpGroOnWrite()
    {
        ReadOnlySpan<byte> fingerprint = "netstack-tun-uso-probe"u8;
        _writeOutCount = 0;
        for (int i = 0; i < 2; i++)
        {
            _udpGro!.Add(BuildProbeDatagram(fingerprint, i));
        }
        _udpGro!.Flush();
        if (_writeOutCount != 1 || _writeOut[0].SegmentsRepresented != 2)
        {
            _logger.LogTunWarning(Device.Name, "UDP GRO on write probe: the probe datagrams were not merged; probe inconclusive");
            ReleaseCollected();
            return;
        }
        long rejectedBefore = Drops[TunDropReason.WriteRejected];
        PacketBuffer merged = _writeOut[0];
        _writeOut[0] = null!;
        _writeOutCount = 0;
        WriteAndRelease(merged);
        if (Drops[TunDropReason.WriteRejected] > rejectedBefore)
        {
            UdpGroOnWrite = false;
            _logger.LogTunWarning(Device.Name, "the kernel rejects USO writes (EINVAL): UDP GRO on write disabled");
        }
        else
        {
            _logger.LogTunInfo(Device.Name, "UDP GRO on write probe accepted: UDP GRO on write on");
        }
    }

    private PacketBuffer BuildProbeDatagram(ReadOnlySpan<byte> payload, int index)
    {
        var ip = new Ipv4Repr
        {
            Source = ProbeAddress,
            Destination = ProbeAddress,
            Protocol = IpProtocol.Udp,
            TimeToLive = 0,
            Identification = (ushort)(0x4E53 + index),
            DontFragment = true,
            PayloadLength = UdpHeader.HeaderLength + payload.Length,
        };
        PacketBuffer packet = _pool.Rent(ip.TotalLength, 64);
        Span<byte> bytes = packet.Append(ip.TotalLength);
        ip.Emit(bytes);
        Span<byte> datagram = bytes[ip.HeaderLength..];
        new UdpRepr { SourcePort = 9, DestinationPort = 9, PayloadLength = payload.Length }.Emit(datagram);
        payload.CopyTo(datagram[UdpHeader.HeaderLength..]);
        UdpHeader.WriteChecksum(datagram, InternetChecksum.PseudoHeaderSumV4(bytes.Slice(Ipv4Header.SourceOffset, 4),
            bytes.Slice(Ipv4Header.DestinationOffset, 4), (byte)IpProtocol.Udp, datagram.Length));
        packet.NetworkProtocol = NetworkProtocol.IPv4;
        return packet;
    }

    private void ReleaseCollected()
    {
        for (int i = 0; i < _writeOutCount; i++)
        {
            _writeOut[i].Release();
            _writeOut[i] = null!;
        }
        _writeOutCount = 0;
    }

    private PacketBuffer BuildProbeSegment(ReadOnlySpan<byte> payload, int index)
    {
        var tcp = new TcpRepr
        {
            SourcePort = 9,
            DestinationPort = 9,
            SequenceNumber = 1 + (uint)(index * payload.Length),
            AcknowledgmentNumber = 1,
            Flags = TcpFlags.Ack,
            WindowSize = 3000,
        };
        var ip = new Ipv4Repr
        {
            Source = ProbeAddress,
            Destination = ProbeAddress,
            Protocol = IpProtocol.Tcp,
            TimeToLive = 0,
            Identification = (ushort)(0x4E53 + index),
            DontFragment = true,
            PayloadLength = tcp.BufferLength + payload.Length,
        };
        PacketBuffer packet = _pool.Rent(ip.TotalLength, 64);
        Span<byte> bytes = packet.Append(ip.TotalLength);
        ip.Emit(bytes);
        Span<byte> segment = bytes[ip.HeaderLength..];
        tcp.Emit(segment);
        payload.CopyTo(segment[tcp.BufferLength..]);
        uint pseudo = InternetChecksum.PseudoHeaderSumV4(bytes.Slice(Ipv4Header.SourceOffset, 4), bytes.Slice(Ipv4Header.DestinationOffset, 4),
            (byte)IpProtocol.Tcp, segment.Length);
        TcpHeader.WriteChecksum(segment, pseudo);
        packet.NetworkProtocol = NetworkProtocol.IPv4;
        return packet;
    }
}
