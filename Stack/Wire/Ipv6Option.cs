// One IPv6 TLV option as the walker found it (RFC 8200 §4.2): type, and the bytes after type and length.
namespace NetStack.Wire;

/// <summary>
/// One option yielded by <see cref="Ipv6OptionReader"/> from a hop-by-hop or destination options header.
/// The two high bits of the type say what a node that does not recognise the option must do, the third
/// whether the data may change en route (RFC 8200 §4.2).
/// </summary>
public readonly ref struct Ipv6Option
{
    /// <summary>Pad1: a single zero octet, no length (RFC 8200 §4.2).</summary>
    public const byte Pad1 = 0;
    /// <summary>PadN: length and that many zero octets (RFC 8200 §4.2).</summary>
    public const byte PadN = 1;
    /// <summary>Router alert (RFC 2711 §2.1).</summary>
    public const byte RouterAlert = 5;
    /// <summary>Jumbo payload (RFC 2675 §2).</summary>
    public const byte JumboPayload = 0xC2;

    private readonly ReadOnlySpan<byte> _data;

    internal Ipv6Option(byte type, ReadOnlySpan<byte> data)
    {
        Type = type;
        _data = data;
    }

    /// <summary>The option-type octet as on the wire.</summary>
    public byte Type { get; }

    /// <summary>
    /// Action for an unrecognised option, the two high bits of the type (RFC 8200 §4.2): 0 skip, 1 discard,
    /// 2 discard and send ICMP Parameter Problem code 2, 3 the same unless the destination is multicast.
    /// </summary>
    public int UnrecognizedAction => Type >> 6;

    /// <summary>The option data may change en route (third-highest bit of the type, RFC 8200 §4.2).</summary>
    public bool MayChangeEnRoute => (Type & 0x20) != 0;

    /// <summary>True for Pad1 and PadN.</summary>
    public bool IsPadding => Type is Pad1 or PadN;

    /// <summary>Bytes the option takes on the wire: 1 for Pad1, else 2 plus the data.</summary>
    public int Length => Type == Pad1 ? 1 : _data.Length + 2;

    /// <summary>The option data (empty for Pad1).</summary>
    public ReadOnlySpan<byte> Data => _data;
}
