// What the stack sends, as StackScript reads it off the link: every packet validated (GSO ones segment by segment),
// and TCP segments to the peers teach them the stack's sequence numbers and timestamps.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Gso;
using NetStack.Wire;

namespace NetStack.Fuzz.Support;

public sealed partial class StackScript
{
    // Everything the stack sent: each must validate; TCP segments to our peers teach them the stack's sequence numbers.
    private void Drain()
    {
        if (_readBatches)
        {
            // Bit 5: the device reads in batches, as a TUN writer does.
            for (int n; (n = _link.ReadBatch(_batch)) > 0;)
            {
                Check.True(n <= _batch.Length, "ReadBatch fills at most the span");
                for (int i = 0; i < n; i++)
                {
                    PacketBuffer taken = _batch[i];
                    _batch[i] = null!;
                    Sent(taken);
                }
            }
            Check.Equal(0, _link.NumQueued, "nothing queued after draining");
            return;
        }
        while (_link.Read() is { } packet)
        {
            Sent(packet);
        }
    }

    private void Sent(PacketBuffer packet)
    {
        try
        {
            if (packet.Gso.IsGso)
            {
                if (!GsoSegmenter.TrySplit(packet, _pool, _split, out int count, out GsoError error))
                {
                    throw new FuzzInvariantException($"the stack sent a GSO packet that does not split: {error} {packet.Gso}");
                }
                for (int i = 0; i < count; i++)
                {
                    try
                    {
                        Observe(_split[i].ToArray(), gso: true);
                    }
                    finally
                    {
                        _split[i].Release();
                        _split[i] = null!;
                    }
                }
            }
            else
            {
                Observe(packet.ToArray(), gso: false);
            }
        }
        finally
        {
            packet.Release();
        }
    }

    private void Observe(byte[] bytes, bool gso)
    {
        Trace.Write($"  sent{(gso ? " (GSO segment)" : "")} {Convert.ToHexString(bytes)}");
        Check.True(bytes.Length > 0, "the stack sends no empty packet");
        Check.True(gso || bytes.Length <= _mtu, $"a packet the stack sends fits the MTU ({bytes.Length} > {_mtu})");
        using (PacketBuffer copy = _pool.RentCopy(bytes))
        {
            RxVerdict verdict = RxChecksumValidator.Validate(copy, out RxDropReason reason);
            Check.True(verdict != RxVerdict.Drop, $"a packet the stack sends passes RX validation ({reason}): {Convert.ToHexString(bytes)}");
        }
        bool v6 = bytes[0] >> 4 == 6;
        Check.True(v6 ? bytes.AsSpan(8, 16).SequenceEqual(LocalV6Bytes) : BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(12)) == LocalV4,
            "the stack sends from its own address");
        _lastSent = bytes;
        Learn(bytes, v6);
    }

    private void Learn(byte[] bytes, bool v6)
    {
        ReadOnlySpan<byte> tcp;
        if (v6)
        {
            if (bytes[6] != (byte)IpProtocol.Tcp || !bytes.AsSpan(24, 16).SequenceEqual(PeerV6Bytes))
            {
                return;
            }
            tcp = bytes.AsSpan(Ipv6Header.Length);
        }
        else
        {
            if (bytes[9] != (byte)IpProtocol.Tcp || BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16)) != PeerV4 || (bytes[6] & 0x3F) != 0 || bytes[7] != 0)
            {
                return;
            }
            tcp = bytes.AsSpan((bytes[0] & 0x0F) * 4);
        }
        if (!TcpHeader.TryCreate(tcp, out TcpHeader header, out _) || !TcpRepr.TryParse(header, out TcpRepr repr, out _))
        {
            return;
        }
        int index = repr.DestinationPort - 40000;
        if (index < 0 || index >= _peers.Length || _peers[index].V6 != v6)
        {
            return;
        }
        Peer peer = _peers[index];
        uint end = repr.SequenceNumber + (uint)header.Payload.Length + ((repr.Flags & TcpFlags.Syn) != 0 ? 1u : 0u) + ((repr.Flags & TcpFlags.Fin) != 0 ? 1u : 0u);
        if ((repr.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == (TcpFlags.Syn | TcpFlags.Ack))
        {
            peer.SawSynAck = true;
            peer.SynAckAck = repr.AcknowledgmentNumber;
            peer.RcvNxt = end;
        }
        else if ((repr.Flags & TcpFlags.Rst) == 0 && (int)(end - peer.RcvNxt) > 0)
        {
            peer.RcvNxt = end;
        }
        if (repr.Timestamps is { } ts)
        {
            peer.TsEcr = ts.Value;
        }
    }
}
