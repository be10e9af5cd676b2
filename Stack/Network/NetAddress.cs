// Layer: network. Addresses, prefixes and routes as compact values for the packet path (no IPAddress
// allocations per packet); conversions to System.Net types at the API edge.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NetStack.Wire;

namespace NetStack.Network;

/// <summary>An IPv4 or IPv6 address as a value: 16 bytes and a version, cheap to compare and hash.</summary>
public readonly record struct NetAddress : IComparable<NetAddress>
{
    private readonly UInt128 _value;

    private NetAddress(NetworkProtocol version, UInt128 value)
    {
        Version = version;
        _value = value;
    }

    /// <summary><see cref="NetworkProtocol.IPv4"/> or <see cref="NetworkProtocol.IPv6"/>; <see cref="NetworkProtocol.None"/> for the default (unset) value.</summary>
    public NetworkProtocol Version { get; }

    /// <summary>True for an IPv4 address.</summary>
    public bool IsV4 => Version == NetworkProtocol.IPv4;

    /// <summary>The address as an integer (IPv4 in the low 32 bits), network order read big-endian.</summary>
    public UInt128 Value => _value;

    /// <summary>The IPv4 address as a big-endian-read integer.</summary>
    public uint V4 => (uint)_value;

    /// <summary>Address length in bytes (4 or 16).</summary>
    public int Length => IsV4 ? 4 : 16;

    /// <summary>Unset address.</summary>
    public bool IsNone => Version == NetworkProtocol.None;

    /// <summary>0.0.0.0 or ::.</summary>
    public bool IsUnspecified => !IsNone && _value == UInt128.Zero;

    /// <summary>Multicast: 224.0.0.0/4 (RFC 5771) or ff00::/8 (RFC 4291 §2.7).</summary>
    public bool IsMulticast => IsV4 ? (V4 >> 28) == 0xE : (_value >> 120) == 0xFF;

    /// <summary>Limited broadcast 255.255.255.255 (RFC 919).</summary>
    public bool IsLimitedBroadcast => IsV4 && V4 == 0xFFFF_FFFF;

    /// <summary>"This network", 0.0.0.0/8: only ever a source while a host learns its address (RFC 1122 §3.2.1.3, RFC 6890).</summary>
    public bool IsZeroNetwork => IsV4 && (V4 >> 24) == 0;

    /// <summary>An IPv4-mapped IPv6 address, ::ffff:0:0/96 (RFC 4291 §2.5.5.2): for APIs only, never on the wire.</summary>
    public bool IsIpv4Mapped => !IsV4 && !IsNone && (_value >> 32) == 0xFFFF;

    /// <summary>Loopback: 127.0.0.0/8 or ::1.</summary>
    public bool IsLoopback => IsV4 ? (V4 >> 24) == 127 : _value == UInt128.One;

    /// <summary>An IPv4 address.</summary>
    public static NetAddress FromV4(uint value) => new(NetworkProtocol.IPv4, value);

    /// <summary>An IPv6 address.</summary>
    public static NetAddress FromV6(UInt128 value) => new(NetworkProtocol.IPv6, value);

    /// <summary>Reads 4 or 16 bytes in network order.</summary>
    public static NetAddress FromBytes(ReadOnlySpan<byte> bytes) => bytes.Length switch
    {
        4 => FromV4(BinaryPrimitives.ReadUInt32BigEndian(bytes)),
        16 => FromV6(BinaryPrimitives.ReadUInt128BigEndian(bytes)),
        _ => throw new ArgumentException("An address is 4 or 16 bytes.", nameof(bytes)),
    };

    /// <summary>Converts from <see cref="IPAddress"/> (IPv4-mapped IPv6 addresses stay IPv6).</summary>
    public static NetAddress FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out int written);
        return FromBytes(bytes[..written]);
    }

    /// <summary>Parses dotted-quad or IPv6 text.</summary>
    public static NetAddress Parse(string text) => FromIPAddress(IPAddress.Parse(text));

    /// <summary>Writes the address in network order; returns the byte count.</summary>
    public int WriteBytes(Span<byte> destination)
    {
        if (IsV4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination, V4);
            return 4;
        }
        BinaryPrimitives.WriteUInt128BigEndian(destination, _value);
        return 16;
    }

    /// <summary>Converts to <see cref="IPAddress"/> (allocates; not for the packet path).</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        int n = WriteBytes(bytes);
        return new IPAddress(bytes[..n]);
    }

    /// <summary>The address family.</summary>
    public AddressFamily Family => IsV4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;

    /// <inheritdoc/>
    public int CompareTo(NetAddress other) => Version != other.Version ? Version.CompareTo(other.Version) : _value.CompareTo(other._value);

    /// <inheritdoc/>
    public override string ToString() => IsNone ? "(none)" : ToIPAddress().ToString();

    /// <summary>Orders by version, then value.</summary>
    public static bool operator <(NetAddress left, NetAddress right) => left.CompareTo(right) < 0;

    /// <summary>Orders by version, then value.</summary>
    public static bool operator >(NetAddress left, NetAddress right) => left.CompareTo(right) > 0;

    /// <summary>Orders by version, then value.</summary>
    public static bool operator <=(NetAddress left, NetAddress right) => left.CompareTo(right) <= 0;

    /// <summary>Orders by version, then value.</summary>
    public static bool operator >=(NetAddress left, NetAddress right) => left.CompareTo(right) >= 0;
}

/// <summary>An address with a prefix length (CIDR), e.g. 10.0.0.1/24.</summary>
public readonly record struct NetPrefix(NetAddress Address, int PrefixLength)
{
    /// <summary>Parses "address/len" (a bare address means a host prefix).</summary>
    public static NetPrefix Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        var address = NetAddress.Parse(slash < 0 ? text : text[..slash]);
        int length = slash < 0 ? address.Length * 8 : int.Parse(text.AsSpan(slash + 1), System.Globalization.CultureInfo.InvariantCulture);
        if (length < 0 || length > address.Length * 8)
        {
            throw new FormatException($"Prefix length {length} is out of range for {address}.");
        }
        return new NetPrefix(address, length);
    }

    /// <summary>True when <paramref name="address"/> lies inside this prefix.</summary>
    public bool Contains(NetAddress address)
    {
        if (address.Version != Address.Version)
        {
            return false;
        }
        int bits = Address.Length * 8;
        if (PrefixLength == 0)
        {
            return true;
        }
        int shift = bits - PrefixLength;
        return address.IsV4
            ? (address.V4 >> shift) == (Address.V4 >> shift)
            : (address.Value >> shift) == (Address.Value >> shift);
    }

    /// <summary>The directed broadcast address of an IPv4 prefix (host bits all ones).</summary>
    public NetAddress Broadcast => Address.IsV4 && PrefixLength < 31
        ? NetAddress.FromV4(Address.V4 | (uint)((1UL << (32 - PrefixLength)) - 1))
        : default;

    /// <inheritdoc/>
    public override string ToString() => $"{Address}/{PrefixLength}";
}
