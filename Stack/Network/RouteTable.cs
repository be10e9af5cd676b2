namespace NetStack.Network;

/// <summary>One route: packets to <see cref="Destination"/> leave through <see cref="Nic"/>, via <see cref="Gateway"/> when set.</summary>
/// <param name="Destination">Destination prefix (0.0.0.0/0 or ::/0 for a default route).</param>
/// <param name="Nic">Outgoing interface.</param>
/// <param name="Gateway">Next hop, or the default value for an on-link route.</param>
/// <param name="Mtu">Route MTU, or 0 to use the NIC's.</param>
public sealed record Route(NetPrefix Destination, Nic Nic, NetAddress Gateway = default, int Mtu = 0);

/// <summary>
/// Longest-prefix-match route table. Reads are lock-free over an immutable snapshot (sorted by prefix
/// length, longest first); changes copy the snapshot under a lock (they are rare).
/// </summary>
public sealed class RouteTable
{
    private readonly Lock _gate = new();
    private Route[] _routes = [];

    /// <summary>The current routes, longest prefixes first.</summary>
    public IReadOnlyList<Route> Routes => Volatile.Read(ref _routes);

    /// <summary>Adds a route.</summary>
    public void Add(Route route)
    {
        ArgumentNullException.ThrowIfNull(route);
        lock (_gate)
        {
            var next = new List<Route>(_routes) { route };
            next.Sort((a, b) => b.Destination.PrefixLength.CompareTo(a.Destination.PrefixLength));
            Volatile.Write(ref _routes, [.. next]);
        }
    }

    /// <summary>Removes every route through <paramref name="nic"/>.</summary>
    public void RemoveAll(Nic nic)
    {
        lock (_gate)
        {
            Volatile.Write(ref _routes, _routes.Where(r => r.Nic != nic).ToArray());
        }
    }

    /// <summary>The most specific route to <paramref name="destination"/>, or null (no route to host).</summary>
    public Route? Find(NetAddress destination)
    {
        foreach (Route route in Volatile.Read(ref _routes))
        {
            if (route.Destination.Contains(destination))
            {
                return route;
            }
        }
        return null;
    }
}
