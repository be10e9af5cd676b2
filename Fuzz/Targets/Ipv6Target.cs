// IPv6 fixed header view and repr (RFC 8200 §3), extension-header chain walk (§4, §4.1) and each extension
// header's own view: options (§4.2, §4.3, §4.6), routing (§4.4) and fragment (§4.5).
using NetStack.Fuzz.Support;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: the view covers exactly 40 + payload length bytes; the chain walk yields contiguous headers inside
/// the payload, each linked by its next-header octet, and <c>TryWalk</c> reports the same chain; options headers
/// walk within their area and re-emit byte for byte, as routing headers do; fragment headers round-trip through
/// their repr; the fixed header round-trips through <see cref="Ipv6Repr"/> byte for byte.
/// </summary>
public sealed class Ipv6Target : IFuzzTarget
{
    /// <inheritdoc/>
    public string Name => "Ipv6";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (!Ipv6Header.TryCreate(input, out Ipv6Header header, out WireError error))
        {
            Check.True(error != WireError.None, "a refused view names its error");
            return;
        }
        Check.Equal(6, header.Version, "version");
        Check.Equal(Ipv6Header.Length + header.PayloadLength, header.Packet.Length, "view covers 40 + payload length");
        Check.Equal(header.PayloadLength, header.Payload.Length, "payload length");
        Check.Equal(header.TrafficClass, (byte)((header.Dscp << 2) | header.Ecn), "traffic class = DSCP + ECN");
        Check.True(header.FlowLabel <= 0xF_FFFF, "flow label is 20 bits");

        WalkChain(header);

        Check.True(Ipv6Repr.TryParse(header, out Ipv6Repr repr, out error), "every accepted view parses");
        Check.Equal(WireError.None, error, "parse error");
        Span<byte> emitted = stackalloc byte[Ipv6Repr.BufferLength];
        emitted.Fill(0xA5);
        repr.Emit(emitted);
        Check.BytesEqual(header.Header, emitted, "fixed header re-emits byte for byte");
        byte[] packet = header.Packet.ToArray();
        emitted.CopyTo(packet);
        Check.True(Ipv6Header.TryCreate(packet, out Ipv6Header again, out _), "emitted header parses");
        Check.True(Ipv6Repr.TryParse(again, out Ipv6Repr reparsed, out _), "emitted header parses to a repr");
        Check.Equal(repr, reparsed, "repr round trip");
    }

    private static void WalkChain(in Ipv6Header header)
    {
        ReadOnlySpan<byte> payload = header.Payload;
        var walker = new Ipv6ExtensionWalker(header);
        IpProtocol expectedType = header.NextHeader;
        int offset = 0;
        int count = 0;
        bool sawFragment = false;
        while (walker.MoveNext())
        {
            Ipv6ExtensionHeader ext = walker.Current;
            Check.Equal(expectedType, ext.Type, "chain linked by next-header octets");
            Check.True(Ipv6ExtensionWalker.IsExtensionHeader(ext.Type), "only extension headers are walked");
            Check.Equal(offset, ext.Offset, "headers are contiguous");
            Check.True(ext.Length >= 2 && ext.Offset + ext.Length <= payload.Length, "header inside the payload");
            Check.True(ext.Bytes.SequenceEqual(payload.Slice(ext.Offset, ext.Length)), "header bytes are the payload's");
            Check.True(ext.Type != IpProtocol.HopByHop || count == 0, "hop-by-hop only first");
            CheckExtension(ext);
            sawFragment |= ext.Type == IpProtocol.Ipv6Fragment;
            expectedType = ext.NextHeader;
            offset += ext.Length;
            count++;
            Check.Equal(offset, walker.Offset, "walker offset");
            Check.Equal(count, walker.Count, "walker count");
            Check.True(count <= Ipv6ExtensionWalker.DefaultMaxHeaders && offset <= Ipv6ExtensionWalker.DefaultMaxBytes, "chain limits");
        }
        Check.Equal(expectedType, walker.NextHeader, "next header after the walk");
        bool ok = Ipv6ExtensionWalker.TryWalk(header, out Ipv6ExtensionChain chain, out WireError error);
        Check.Equal(walker.Error == WireError.None, ok, "TryWalk agrees with the walker");
        Check.Equal(walker.Error, error, "TryWalk error");
        if (!ok)
        {
            Check.True(error is WireError.BadField or WireError.ChainTooLong or WireError.Truncated or WireError.BadHeaderLength, $"chain error kind {error}");
            return;
        }
        Check.Equal(walker.NextHeader, chain.UpperLayerProtocol, "upper-layer protocol");
        Check.Equal(walker.Offset, chain.UpperLayerOffset, "upper-layer offset");
        Check.Equal(walker.Count, chain.HeaderCount, "header count");
        Check.Equal(walker.HasHopByHop, chain.HasHopByHop, "hop-by-hop flag");
        Check.Equal(walker.HasRoutingHeader, chain.HasRoutingHeader, "routing flag");
        Check.Equal(sawFragment, chain.HasFragmentHeader, "fragment flag");
        Check.Equal(walker.FragmentHeaderOffset, chain.FragmentHeaderOffset, "fragment header offset");
        Check.True(chain.UpperLayerOffset <= payload.Length, "upper layer inside the payload");
        if (chain.HasFragmentHeader)
        {
            Check.True(Ipv6FragmentHeader.TryCreate(payload[chain.FragmentHeaderOffset..], out Ipv6FragmentHeader fragment, out _), "fragment header re-reads");
            Check.Equal(fragment.NextHeader, chain.FragmentNextHeader, "fragment next header");
            Check.Equal(fragment.FragmentOffset, chain.FragmentOffset, "fragment offset");
            Check.Equal(fragment.MoreFragments, chain.MoreFragments, "more fragments");
            Check.Equal(fragment.Identification, chain.FragmentIdentification, "identification");
        }
    }

    private static void CheckExtension(Ipv6ExtensionHeader ext)
    {
        switch (ext.Type)
        {
            case IpProtocol.HopByHop:
            case IpProtocol.Ipv6DestinationOptions:
                {
                    Check.True(Ipv6OptionsHeader.TryCreate(ext.Bytes, out Ipv6OptionsHeader options, out _), "options header view");
                    Check.Equal(ext.Length, options.Length, "options header length");
                    Check.Equal(ext.NextHeader, options.NextHeader, "options next header");
                    WalkOptions(options.Options);
                    byte[] emitted = new byte[Ipv6OptionsHeader.GetLength(options.Options.Length)];
                    emitted.AsSpan().Fill(0xA5);
                    Ipv6OptionsHeader.Emit(emitted, options.NextHeader, options.Options);
                    Check.BytesEqual(options.Header, emitted, "options header re-emits byte for byte");
                    break;
                }
            case IpProtocol.Ipv6Route:
                {
                    Check.True(Ipv6RoutingHeader.TryCreate(ext.Bytes, out Ipv6RoutingHeader routing, out _), "routing header view");
                    Check.Equal(ext.Length, routing.Length, "routing header length");
                    Check.True(routing.Length >= Ipv6RoutingHeader.MinLength, "routing header at least 8 bytes");
                    byte[] emitted = new byte[Ipv6RoutingHeader.GetLength(routing.Data.Length)];
                    emitted.AsSpan().Fill(0xA5);
                    Ipv6RoutingHeader.Emit(emitted, routing.NextHeader, routing.RoutingType, routing.SegmentsLeft, routing.Data);
                    Check.BytesEqual(routing.Header, emitted, "routing header re-emits byte for byte");
                    break;
                }
            case IpProtocol.Ipv6Fragment:
                {
                    Check.True(Ipv6FragmentHeader.TryCreate(ext.Bytes, out Ipv6FragmentHeader fragment, out _), "fragment header view");
                    Check.Equal(Ipv6FragmentHeader.Length, ext.Length, "fragment header length");
                    Check.Equal(fragment.FragmentOffset == 0 && !fragment.MoreFragments, fragment.IsAtomic, "IsAtomic (reserved bits aside)");
                    Check.True(Ipv6FragmentRepr.TryParse(fragment, out Ipv6FragmentRepr repr, out _), "fragment repr parses");
                    Span<byte> emitted = stackalloc byte[Ipv6FragmentRepr.BufferLength];
                    emitted.Fill(0xA5);
                    repr.Emit(emitted);
                    Span<byte> expected = stackalloc byte[Ipv6FragmentHeader.Length];
                    fragment.Header.CopyTo(expected);
                    expected[1] = 0;     // reserved octet
                    expected[3] &= 0xF9; // reserved bits
                    Check.BytesEqual(expected, emitted, "fragment header re-emits (reserved fields zeroed)");
                    Check.True(Ipv6FragmentHeader.TryCreate(emitted, out Ipv6FragmentHeader again, out _), "emitted fragment header parses");
                    Check.True(Ipv6FragmentRepr.TryParse(again, out Ipv6FragmentRepr reparsed, out _), "emitted fragment repr parses");
                    Check.Equal(repr, reparsed, "fragment repr round trip");
                    break;
                }
            default:
                break; // AH: only its length is defined here (RFC 4302 §2.2)
        }
    }

    private static void WalkOptions(ReadOnlySpan<byte> options)
    {
        var reader = new Ipv6OptionReader(options);
        int expectedOffset = 0;
        while (reader.MoveNext())
        {
            Ipv6Option option = reader.Current;
            Check.Equal(expectedOffset, reader.CurrentOffset, "options are contiguous");
            Check.True(reader.CurrentOffset + option.Length <= options.Length, "option inside the area");
            Check.Equal(option.Type, options[reader.CurrentOffset], "option type octet");
            if (option.Type != Ipv6Option.Pad1)
            {
                Check.Equal(option.Data.Length, (int)options[reader.CurrentOffset + 1], "option length octet");
            }
            _ = (option.UnrecognizedAction, option.MayChangeEnRoute, option.IsPadding);
            expectedOffset += option.Length;
        }
        Check.Equal(reader.Error == WireError.None, Ipv6OptionReader.Validate(options, out WireError error), "Validate agrees with the walk");
        Check.Equal(reader.Error, error, "Validate error");
        if (reader.Error == WireError.None)
        {
            Check.Equal(options.Length, expectedOffset, "a clean walk covers the whole area");
        }
        else
        {
            Check.Equal(WireError.BadOption, reader.Error, "option errors are BadOption");
        }
    }
}
