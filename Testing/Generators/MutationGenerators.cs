// Near-valid packets: a valid packet with exactly one field changed (a length, an offset, a flag, an option
// length, a checksum, the version), or cut short, or with bytes appended. Half of them get their checksums
// fixed afterwards, so the change reaches the code behind checksum validation.
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Testing.Generators;

/// <summary>A valid packet after one change.</summary>
/// <param name="Original">The valid packet.</param>
/// <param name="Field">What was changed, e.g. <c>ipv4.total_length</c>, <c>tcp.option</c>, <c>truncate</c>.</param>
/// <param name="Bytes">The changed packet.</param>
/// <param name="ChecksumsFixed">Checksums were recomputed after the change (see <see cref="PacketChecksums.Fix"/>).</param>
public sealed record MutatedPacket(GeneratedPacket Original, string Field, byte[] Bytes, bool ChecksumsFixed)
{
    /// <summary>True when the change left the bytes as they were (a field set to its own value).</summary>
    public bool Unchanged => Bytes.AsSpan().SequenceEqual(Original.Bytes);

    /// <inheritdoc/>
    public override string ToString() => $"{Original.Kind} {Field}{(ChecksumsFixed ? " (checksums fixed)" : "")}: {Convert.ToHexString(Bytes)}";
}

/// <summary>One mutable field of a packet: where it is, how wide (1 or 2 bytes, or a 4-bit nibble), its name.</summary>
/// <param name="Name">Field name.</param>
/// <param name="Offset">Byte offset in the packet.</param>
/// <param name="Width">1 or 2 bytes; 0 for the high nibble of the byte, -1 for the low nibble.</param>
public readonly record struct PacketField(string Name, int Offset, int Width);

/// <summary>FsCheck generators of one-field mutations of valid packets.</summary>
public static class MutationGenerators
{
    /// <summary>Any valid packet from <see cref="PacketGenerators.Any"/> with one change.</summary>
    public static Gen<MutatedPacket> NearValid(int maxPayload = 256) =>
        PacketGenerators.Any(maxPayload).SelectMany(OneField);

    /// <summary>
    /// <paramref name="packet"/> with one of its <see cref="Fields"/> set to another value (boundary values favoured),
    /// or truncated, or with 1–8 bytes appended; checksums fixed one time in two unless a checksum was the field.
    /// </summary>
    public static Gen<MutatedPacket> OneField(GeneratedPacket packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        PacketField[] fields = Fields(packet.Bytes);
        Gen<(string, byte[])> change = Gen.Frequency(
            (8, from field in Gen.Elements(fields)
                from value in Gen.Frequency((1, Gen.Elements(0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, packet.Bytes.Length, packet.Bytes.Length - 1, packet.Bytes.Length + 1)),
                    (2, Gen.Choose(0, 0xFFFF)))
                select (field.Name, Set(packet.Bytes, field, value))),
            (1, Gen.Choose(0, Math.Max(0, packet.Bytes.Length - 1)).Select(n => ("truncate", packet.Bytes[..n]))),
            (1, IpGenerators.Bytes(1, 8).Select(extra => ("trailing", (byte[])[.. packet.Bytes, .. extra]))));
        return from c in change
               from fix in Gen.Elements(true, false)
               let fixable = fix && !c.Item1.EndsWith("checksum", StringComparison.Ordinal)
               select new MutatedPacket(packet, c.Item1, fixable ? PacketChecksums.Fixed(c.Item2) : c.Item2, fixable);
    }

    /// <summary>The header fields of a well-formed IPv4 or IPv6 packet and of its TCP, UDP or ICMP header.</summary>
    public static PacketField[] Fields(ReadOnlySpan<byte> packet)
    {
        var fields = new List<PacketField> { new("ip.version", 0, 0) };
        int transport;
        IpProtocol protocol;
        if (packet[0] >> 4 == 4)
        {
            int ihl = (packet[0] & 0x0F) * 4;
            fields.AddRange([new("ipv4.ihl", 0, -1), new("ipv4.tos", 1, 1), new("ipv4.total_length", 2, 2), new("ipv4.identification", 4, 2),
                new("ipv4.flags_offset", 6, 2), new("ipv4.ttl", 8, 1), new("ipv4.protocol", 9, 1), new("ipv4.checksum", 10, 2),
                new("ipv4.source", 12, 2), new("ipv4.destination", 18, 2)]);
            for (int i = Ipv4Header.MinLength; i < ihl; i++)
            {
                fields.Add(new("ipv4.option", i, 1));
            }
            transport = ihl;
            protocol = (IpProtocol)packet[9];
        }
        else
        {
            fields.AddRange([new("ipv6.traffic_class", 0, -1), new("ipv6.flow_label", 2, 2), new("ipv6.payload_length", 4, 2),
                new("ipv6.next_header", 6, 1), new("ipv6.hop_limit", 7, 1), new("ipv6.source", 8, 2), new("ipv6.destination", 38, 2)]);
            if (!Ipv6ExtensionWalker.TryWalk((IpProtocol)packet[6], packet[Ipv6Header.Length..], out Ipv6ExtensionChain chain, out _))
            {
                return [.. fields];
            }
            for (int offset = Ipv6Header.Length; offset < Ipv6Header.Length + chain.UpperLayerOffset; offset += (packet[offset + 1] + 1) * 8)
            {
                fields.AddRange([new("ipv6.extension.next_header", offset, 1), new("ipv6.extension.length", offset + 1, 1), new("ipv6.extension.option", offset + 2, 1)]);
            }
            transport = Ipv6Header.Length + chain.UpperLayerOffset;
            protocol = chain.UpperLayerProtocol;
        }
        switch (protocol)
        {
            case IpProtocol.Tcp when packet.Length >= transport + 20:
                int dataOffset = (packet[transport + 12] >> 4) * 4;
                fields.AddRange([new("tcp.source_port", transport, 2), new("tcp.destination_port", transport + 2, 2), new("tcp.sequence", transport + 4, 2),
                    new("tcp.acknowledgment", transport + 8, 2), new("tcp.data_offset", transport + 12, 0), new("tcp.reserved", transport + 12, -1),
                    new("tcp.flags", transport + 13, 1), new("tcp.window", transport + 14, 2), new("tcp.checksum", transport + 16, 2),
                    new("tcp.urgent_pointer", transport + 18, 2)]);
                for (int i = 20; i < dataOffset && transport + i < packet.Length; i++)
                {
                    fields.Add(new("tcp.option", transport + i, 1));
                }
                break;
            case IpProtocol.Udp when packet.Length >= transport + 8:
                fields.AddRange([new("udp.source_port", transport, 2), new("udp.destination_port", transport + 2, 2),
                    new("udp.length", transport + 4, 2), new("udp.checksum", transport + 6, 2)]);
                break;
            case IpProtocol.Icmp or IpProtocol.IcmpV6 when packet.Length >= transport + 8:
                fields.AddRange([new("icmp.type", transport, 1), new("icmp.code", transport + 1, 1), new("icmp.checksum", transport + 2, 2),
                    new("icmp.rest", transport + 4, 2), new("icmp.rest", transport + 6, 2)]);
                break;
            default:
                break;
        }
        int length = packet.Length;
        return [.. fields.Where(f => f.Offset + Math.Max(1, f.Width) <= length)];
    }

    /// <summary>A copy of <paramref name="packet"/> with <paramref name="field"/> set to <paramref name="value"/> (cut to the field's width).</summary>
    public static byte[] Set(ReadOnlySpan<byte> packet, PacketField field, int value)
    {
        byte[] copy = packet.ToArray();
        switch (field.Width)
        {
            case 2:
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(field.Offset), (ushort)value);
                break;
            case 1:
                copy[field.Offset] = (byte)value;
                break;
            case 0:
                copy[field.Offset] = (byte)((copy[field.Offset] & 0x0F) | ((value & 0x0F) << 4));
                break;
            default:
                copy[field.Offset] = (byte)((copy[field.Offset] & 0xF0) | (value & 0x0F));
                break;
        }
        return copy;
    }
}
