// IPv4 header view, option walk, repr parse and emit (RFC 791 §3.1).
using NetStack.Checksums;
using NetStack.Fuzz.Support;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: a view never reads past its packet; the option walk stays in the option area and agrees with
/// <c>Validate</c>; every view parses to a repr; re-emitting the repr (header plus the original payload) gives a view
/// that parses to the same repr, with a verifying checksum, byte-identical to the input header except the checksum
/// and the reserved flag (which the repr does not keep).
/// </summary>
public sealed class Ipv4Target : IFuzzTarget
{
    /// <inheritdoc/>
    public string Name => "Ipv4";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (!Ipv4Header.TryCreate(input, out Ipv4Header header, out WireError error))
        {
            Check.True(error != WireError.None, "a refused view names its error");
            return;
        }
        Check.Equal(WireError.None, error, "accepted view error");
        Check.Equal(4, header.Version, "version");
        Check.True(header.HeaderLength >= Ipv4Header.MinLength && header.HeaderLength <= header.TotalLength, "header length within total length");
        Check.True(header.TotalLength <= input.Length, "total length within the buffer");
        Check.Equal(header.TotalLength, header.Packet.Length, "view covers exactly the total length");
        Check.Equal(header.TotalLength - header.HeaderLength, header.Payload.Length, "payload length");
        Check.Equal(header.HeaderLength - Ipv4Header.MinLength, header.Options.Length, "options length");
        Check.True(header.FragmentOffset % 8 == 0 && header.FragmentOffset <= Ipv4Header.MaxFragmentOffset, "fragment offset in 8-byte units");
        Check.Equal(header.MoreFragments || header.FragmentOffset != 0, header.IsFragment, "IsFragment");
        Check.Equal(header.DifferentiatedServices, (byte)((header.Dscp << 2) | header.Ecn), "DS field = DSCP + ECN");
        Check.Equal(InternetChecksum.Fold(InternetChecksum.SumScalar(header.Header)) == 0xFFFF, header.VerifyChecksum(), "checksum verdict = scalar reference");

        WalkOptions(header.Options);

        Check.True(Ipv4Repr.TryParse(header, out Ipv4Repr repr, out error), "every accepted view parses");
        Check.Equal(WireError.None, error, "parse error");
        Check.Equal(header.HeaderLength, repr.HeaderLength, "repr header length");
        Check.Equal(header.TotalLength, repr.TotalLength, "repr total length");
        Check.Equal(header.IsFragment, repr.IsFragment, "repr IsFragment");
        Check.BytesEqual(header.Options, repr.Options, "repr options");

        // Emit round trip: header from the repr, then the original payload.
        byte[] emitted = new byte[repr.TotalLength];
        emitted.AsSpan().Fill(0xA5);
        repr.Emit(emitted);
        header.Payload.CopyTo(emitted.AsSpan(repr.HeaderLength));
        Check.True(Ipv4Header.TryCreate(emitted, out Ipv4Header again, out error), $"emitted header parses ({error})");
        Check.True(again.VerifyChecksum(), "emitted checksum verifies");
        Check.True(Ipv4Repr.TryParse(again, out Ipv4Repr reparsed, out _), "emitted header parses to a repr");
        Check.Equal(repr, reparsed, "repr round trip");

        Span<byte> expected = stackalloc byte[header.HeaderLength];
        header.Header.CopyTo(expected);
        expected[Ipv4Header.FragmentOffsetField] &= 0x7F; // reserved flag not kept
        expected[Ipv4Header.ChecksumOffset] = again.Header[Ipv4Header.ChecksumOffset];
        expected[Ipv4Header.ChecksumOffset + 1] = again.Header[Ipv4Header.ChecksumOffset + 1];
        Check.BytesEqual(expected, again.Header, "emitted header = input header (checksum, reserved flag aside)");
        if (header.VerifyChecksum() && !header.ReservedFlag && header.Checksum != again.Checksum)
        {
            // RFC 1071/1624: 0x0000 and 0xFFFF are the two zeros of ones'-complement; a sum of zero may carry
            // either on the wire, and emit (~sum) always writes 0x0000. Any other difference is a bug.
            Check.True(header.Checksum == 0xFFFF && again.Checksum == 0, "a valid header re-emits its own checksum");
        }

        // In-place setters on a copy: recompute makes any accepted header verify.
        byte[] copy = header.Packet.ToArray();
        Ipv4Header.RecomputeChecksum(copy);
        Check.True(Ipv4Header.VerifyChecksum(copy.AsSpan(0, header.HeaderLength)), "RecomputeChecksum verifies");
    }

    private static void WalkOptions(ReadOnlySpan<byte> options)
    {
        var reader = new Ipv4OptionReader(options);
        int expectedOffset = 0;
        bool sawEnd = false;
        while (reader.MoveNext())
        {
            Check.True(!sawEnd, "nothing after EOL");
            Ipv4Option option = reader.Current;
            Check.Equal(expectedOffset, reader.CurrentOffset, "options are contiguous");
            Check.True(option.Length >= 1 && reader.CurrentOffset + option.Length <= options.Length, "option inside the area");
            Check.Equal(option.Type, options[reader.CurrentOffset], "option type octet");
            if (!option.IsSingleOctet)
            {
                Check.Equal(option.Length, (int)options[reader.CurrentOffset + 1], "option length octet");
                Check.True(option.Data.SequenceEqual(options.Slice(reader.CurrentOffset + 2, option.Length - 2)), "option data");
            }
            _ = (option.Copied, option.Class, option.Number);
            sawEnd = option.Type == Ipv4Option.EndOfList;
            expectedOffset += option.Length;
        }
        bool valid = Ipv4OptionReader.Validate(options, out WireError error);
        Check.Equal(reader.Error == WireError.None, valid, "Validate agrees with the walk");
        Check.Equal(reader.Error, error, "Validate error");
        Check.True(reader.Error is WireError.None or WireError.BadOption, "option errors are BadOption");
        if (reader.Error == WireError.None && !sawEnd)
        {
            Check.Equal(options.Length, expectedOffset, "a clean walk without EOL covers the whole area");
        }
    }
}
