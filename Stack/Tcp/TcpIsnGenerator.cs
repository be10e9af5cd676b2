// Layer: transport (TCP). Initial sequence numbers per RFC 6528 §3: ISN = M + F(4-tuple, secret), with M a
// 4-microsecond clock and F a keyed pseudo-random function (SipHash-2-4 here, as Linux's secure_tcp_seq).
using System.Buffers.Binary;
using System.Security.Cryptography;
using NetStack.Network;

namespace NetStack.Tcp;

internal sealed class TcpIsnGenerator
{
    private readonly SipHash _key;
    private readonly TimeProvider _clock;

    /// <param name="secret">The secret of F (any length; its SHA-256 gives the 128-bit key); null or empty draws a key from the system's CSPRNG.</param>
    /// <param name="clock">The clock behind M.</param>
    public TcpIsnGenerator(byte[]? secret, TimeProvider clock)
    {
        Span<byte> digest = stackalloc byte[32];
        if (secret is { Length: > 0 })
        {
            SHA256.HashData(secret, digest);
        }
        else
        {
            RandomNumberGenerator.Fill(digest);
        }
        _key = new SipHash(BinaryPrimitives.ReadUInt64LittleEndian(digest), BinaryPrimitives.ReadUInt64LittleEndian(digest[8..]));
        _clock = clock;
    }

    public SequenceNumber Next(in TcpFourTuple tuple)
    {
        uint f = Hash(tuple, 0);
        uint m = unchecked((uint)(_clock.GetUtcNow().UtcTicks / 40)); // 4 µs units (RFC 6528 §3)
        return new SequenceNumber(unchecked(f + m));
    }

    /// <summary>
    /// The offset of a connection's timestamp clock (RFC 7323 §5.4): keyed by the 4-tuple, so it is random to
    /// outsiders yet the same for every incarnation of a connection — the peer's RFC 6191 TIME-WAIT check sees
    /// our timestamps grow across incarnations, as Linux's do.
    /// </summary>
    public uint TimestampOffset(in TcpFourTuple tuple) => Hash(tuple, 1);

    // RFC 6528 §3: F is keyed by a secret outsiders cannot learn; the domain byte keeps the ISN and the timestamp
    // offset independent of each other.
    private uint Hash(in TcpFourTuple tuple, byte domain) =>
        (uint)_key.Hash(tuple.LocalAddress, tuple.RemoteAddress, tuple.LocalPort, ((uint)tuple.RemotePort << 16) | domain);
}

/// <summary>A connection's addresses and ports, from our side.</summary>
internal readonly record struct TcpFourTuple(NetAddress LocalAddress, ushort LocalPort, NetAddress RemoteAddress, ushort RemotePort)
{
    public override string ToString() => $"{LocalAddress}:{LocalPort}<->{RemoteAddress}:{RemotePort}";
}
