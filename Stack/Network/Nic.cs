using System.Net;
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Network;

/// <summary>
/// A network interface of the stack over one <see cref="ILinkEndpoint"/>: its addresses, and the
/// promiscuous and spoofing modes the proxy needs (as gVisor has them) to terminate connections to, and
/// answer from, arbitrary addresses.
/// </summary>
public sealed class Nic : INetworkDispatcher
{
    private readonly NetworkStack _stack;
    private NetPrefix[] _addresses = [];

    internal Nic(NetworkStack stack, int id, string name, ILinkEndpoint link)
    {
        _stack = stack;
        Id = id;
        Name = name;
        Link = link;
    }

    /// <summary>Stack-unique id.</summary>
    public int Id { get; }

    /// <summary>Name for logs and metrics.</summary>
    public string Name { get; }

    /// <summary>The link endpoint under this NIC.</summary>
    public ILinkEndpoint Link { get; }

    /// <summary>Accept packets for any destination address, not only the NIC's own.</summary>
    public bool Promiscuous { get; set; }

    /// <summary>Allow sending from any source address, not only the NIC's own.</summary>
    public bool Spoofing { get; set; }

    /// <summary>The link MTU.</summary>
    public int Mtu => Link.Mtu;

    /// <summary>
    /// Headroom a transport reserves in front of its header for a packet through this NIC: room for the IP header
    /// (up to 60 bytes for IPv4 with options; 64) plus what the link pushes (<see cref="ILinkEndpoint.MaxHeaderLength"/>).
    /// </summary>
    public int MaxHeaderLength => NetworkHeaderRoom + Link.MaxHeaderLength;

    /// <summary>Headroom kept for the IP header in front of a transport header.</summary>
    internal const int NetworkHeaderRoom = 64;

    /// <summary>Assigned addresses with their prefixes.</summary>
    public IReadOnlyList<NetPrefix> Addresses => Volatile.Read(ref _addresses);

    /// <summary>Assigns <paramref name="address"/> with its prefix length (10.0.0.2 and 24 for 10.0.0.2/24) and adds the on-link route for the prefix.</summary>
    public void AddAddress(IPAddress address, int prefixLength)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        AddAddress(new NetPrefix(NetAddress.FromIPAddress(address), prefixLength));
    }

    /// <summary>True when <paramref name="address"/> is one of the NIC's addresses.</summary>
    public bool HasAddress(IPAddress address) => HasAddress(NetAddress.FromIPAddress(address ?? throw new ArgumentNullException(nameof(address))));

    /// <summary>Assigns an address and adds the on-link route for its prefix.</summary>
    public void AddAddress(NetPrefix prefix)
    {
        lock (this)
        {
            Volatile.Write(ref _addresses, [.. _addresses, prefix]);
        }
        int length = prefix.PrefixLength;
        int bits = prefix.Address.Length * 8;
        UInt128 mask = length == 0 ? UInt128.Zero : UInt128.MaxValue << (bits - length);
        NetAddress network = prefix.Address.IsV4
            ? NetAddress.FromV4((uint)(prefix.Address.Value & mask))
            : NetAddress.FromV6(prefix.Address.Value & mask);
        _stack.Routes.Add(new Route(new NetPrefix(network, length), this));
    }

    /// <summary>True when <paramref name="address"/> is one of the NIC's addresses.</summary>
    public bool HasAddress(NetAddress address)
    {
        foreach (NetPrefix p in Volatile.Read(ref _addresses))
        {
            if (p.Address == address)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>True when <paramref name="address"/> is a directed broadcast of one of the NIC's IPv4 prefixes.</summary>
    public bool IsBroadcast(NetAddress address)
    {
        if (address.IsLimitedBroadcast)
        {
            return true;
        }
        foreach (NetPrefix p in Volatile.Read(ref _addresses))
        {
            if (p.Address.IsV4 && p.Broadcast == address)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The first address of the given version, or the default value.</summary>
    public NetAddress PrimaryAddress(NetworkProtocol version)
    {
        foreach (NetPrefix p in Volatile.Read(ref _addresses))
        {
            if (p.Address.Version == version)
            {
                return p.Address;
            }
        }
        return default;
    }

    /// <inheritdoc/>
    public void DeliverNetworkPacket(NetworkProtocol protocol, PacketBuffer packet)
    {
        _stack.Telemetry.Received(packet.Length);
        _stack.Deliver(this, protocol, packet);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}#{Id}";
}
