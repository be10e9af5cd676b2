namespace NetStack.Network.Fragmentation;

/// <summary>
/// Identifies the datagram a fragment belongs to: (source, destination, protocol, identification) for IPv4
/// (RFC 791 §3.2), (source, destination, identification) for IPv6 (RFC 8200 §4.5), plus the version. IPv4
/// addresses sit in the low 32 bits. The hash goes through <see cref="HashCode"/>, which is seeded per process,
/// so a peer cannot aim fragments at one bucket.
/// </summary>
internal readonly struct FragmentKey(int version, UInt128 source, UInt128 destination, byte protocol, uint identification) : IEquatable<FragmentKey>
{
    public readonly UInt128 Source = source;
    public readonly UInt128 Destination = destination;
    public readonly uint Identification = identification;
    public readonly byte Protocol = protocol;
    public readonly byte Version = (byte)version;

    public bool Equals(FragmentKey other) => Source == other.Source && Destination == other.Destination
        && Identification == other.Identification && Protocol == other.Protocol && Version == other.Version;

    public override bool Equals(object? obj) => obj is FragmentKey other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Source, Destination, Identification, Protocol, Version);

    public override string ToString() => $"v{Version} {Source:X}->{Destination:X} proto {Protocol} id {Identification}";
}
