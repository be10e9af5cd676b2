// The example of Testing/README.md, compiled: NetStack.Testing's generators property-testing a parser that is not
// NetStack's (a minimal IP length reader standing in for "your parser").
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Testing.Generators;

namespace NetStack.Tests.Fuzz;

/// <summary>A user's parser: the length of an IPv4 or IPv6 packet from its header, if the header holds together.</summary>
internal static class MyParser
{
    public static bool TryParse(ReadOnlySpan<byte> packet, out int length)
    {
        length = 0;
        if (packet.Length >= 20 && packet[0] >> 4 == 4 && (packet[0] & 0x0F) >= 5)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
            return length >= (packet[0] & 0x0F) * 4 && length <= packet.Length;
        }
        if (packet.Length >= 40 && packet[0] >> 4 == 6)
        {
            length = 40 + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
            return length <= packet.Length;
        }
        return false;
    }
}

public class MyParserProperties
{
    // Any valid packet parses, and the parser finds the length the IP header gives.
    [Property(MaxTest = 300)]
    public Property Every_valid_packet_parses() => Prop.ForAll(
        Arb.From(PacketGenerators.Any()),
        packet => MyParser.TryParse(packet.Bytes, out int length) && length == packet.Bytes.Length);

    // Near-valid packets never throw: the parser says no, or yes with a length inside the buffer.
    [Property(MaxTest = 1000)]
    public Property Near_valid_packets_never_throw() => Prop.ForAll(
        Arb.From(MutationGenerators.NearValid()),
        mutated => !MyParser.TryParse(mutated.Bytes, out int length) || length <= mutated.Bytes.Length);
}
