// Conversions between the wire's address forms (bytes in network order, uint, UInt128) and System.Net.IPAddress.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace NetStack.Wire;

/// <summary>
/// Converts IPv4 and IPv6 addresses between the forms the wire types use (a <see cref="uint"/> or
/// <see cref="UInt128"/> read big-endian from the address bytes, or the bytes themselves) and
/// <see cref="IPAddress"/>. For tests, configuration and other code off the packet path: making an
/// <see cref="IPAddress"/> allocates.
/// </summary>
public static class IPAddressConversions
{
    /// <summary>The IPv4 address as a number (10.0.0.1 is 0x0A000001).</summary>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not IPv4.</exception>
    public static uint ToIpv4Value(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException("Not an IPv4 address.", nameof(address));
        }
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    /// <summary>The IPv6 address as a number (the sixteen bytes read big-endian); the scope id is dropped.</summary>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not IPv6.</exception>
    public static UInt128 ToIpv6Value(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException("Not an IPv6 address.", nameof(address));
        }
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    /// <summary>Makes an <see cref="IPAddress"/> from an IPv4 address number (allocates).</summary>
    public static IPAddress FromIpv4Value(uint address)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, address);
        return new IPAddress(bytes);
    }

    /// <summary>Makes an <see cref="IPAddress"/> from an IPv6 address number (allocates).</summary>
    public static IPAddress FromIpv6Value(UInt128 address)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, address);
        return new IPAddress(bytes);
    }

    /// <summary>Makes an <see cref="IPAddress"/> from 4 or 16 address bytes in network order (allocates).</summary>
    /// <exception cref="ArgumentException"><paramref name="address"/> is neither 4 nor 16 bytes long.</exception>
    public static IPAddress FromBytes(ReadOnlySpan<byte> address) => address.Length is 4 or 16
        ? new IPAddress(address)
        : throw new ArgumentException("An IP address is 4 or 16 bytes.", nameof(address));

    /// <summary>Writes the bytes of <paramref name="address"/> (4 or 16) to <paramref name="destination"/> and returns how many.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public static int WriteBytes(IPAddress address, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.TryWriteBytes(destination, out int written)
            ? written
            : throw new ArgumentException("Destination too short for the address.", nameof(destination));
    }
}
