// Layer: link endpoints, Linux TUN. The start-up probes that switch TCP and UDP GRO on write off on kernels that
// reject GRO'd writes.
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
            for (int i = 0; i < 2; i++)
            {
                _udpGro!.Add(BuildProbeDatagram("netstack-tun-uso-probe"u8, i));
            }
            _udpGro!.Flush();
            UdpGroOnWrite = WriteProbe("UDP");
        }
        if (_writeGro is not null && TcpGroOnWrite)
        {
            for (int i = 0; i < 2; i++)
            {
                PacketBuffer segment = BuildProbeSegment("netstack-tun-gro-probe"u8, i);
                segment.RxChecksumValidated = true;
                _writeGro.Enqueue(segment);
            }
            _writeGro.Flush();
            TcpGroOnWrite = WriteProbe("TCP");
        }
    }

    /// <summary>
    /// Writes the one merged probe packet GRO on write collected; false (switch GRO on write of that protocol off)
    /// only when the kernel rejects it with EINVAL. A probe that was not merged, or a write that failed otherwise
    /// (device down), decides nothing.
    /// </summary>
    private bool WriteProbe(string protocol)
    {
        if (_writeOutCount != 1 || _writeOut[0].SegmentsRepresented != 2)
        {
            _logger.LogTunWarning(Device.Name, $"{protocol} GRO on write probe: the probe packets were not merged; probe inconclusive");
            ReleaseCollected();
            return true;
        }
        long rejectedBefore = Drops[TunDropReason.WriteRejected];
        long failedBefore = Drops[TunDropReason.WriteFailed] + Drops[TunDropReason.DeviceFull];
        PacketBuffer merged = _writeOut[0];
        _writeOut[0] = null!;
        _writeOutCount = 0;
        WriteAndRelease(merged);
        if (Drops[TunDropReason.WriteRejected] > rejectedBefore)
        {
            _logger.LogTunWarning(Device.Name, $"the kernel rejects GRO'd {protocol} writes (EINVAL): {protocol} GRO on write disabled");
            return false;
        }
        if (Drops[TunDropReason.WriteFailed] + Drops[TunDropReason.DeviceFull] > failedBefore)
        {
            _logger.LogTunWarning(Device.Name, $"{protocol} GRO on write probe: write failed ({LinuxNative.Describe(_lastWriteError)}); probe inconclusive, kept on");
        }
        else
        {
            _logger.LogTunInfo(Device.Name, $"{protocol} GRO on write probe accepted: {protocol} GRO on write on");
        }
        return true;
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
