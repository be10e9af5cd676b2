// Layer: transport (TCP). Initial sequence numbers per RFC 6528 §3: ISN = M + F(4-tuple, secret), with M a
// 4-microsecond clock and F a keyed hash (HMAC-SHA256 here).
using System.Buffers.Binary;
using System.Security.Cryptography;
using NetStack.Network;

namespace NetStack.Tcp;

internal sealed class TcpIsnGenerator
{
    private readonly byte[] _secret;
    private readonly TimeProvider _clock;

    public TcpIsnGenerator(byte[]? secret, TimeProvider clock)
    {
        _secret = secret is { Length: > 0 } ? (byte[])secret.Clone() : RandomNumberGenerator.GetBytes(32);
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

    private uint Hash(in TcpFourTuple tuple, byte domain)
    {
        Span<byte> data = stackalloc byte[37];
        Write(tuple.LocalAddress, data);
        Write(tuple.RemoteAddress, data[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(data[32..], tuple.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(data[34..], tuple.RemotePort);
        data[36] = domain;
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(_secret, data, hash);
        return BinaryPrimitives.ReadUInt32BigEndian(hash);
    }

    private static void Write(NetAddress address, Span<byte> destination)
    {
        destination[..16].Clear();
        address.WriteBytes(destination);
    }
}

/// <summary>A connection's addresses and ports, from our side.</summary>
internal readonly record struct TcpFourTuple(NetAddress LocalAddress, ushort LocalPort, NetAddress RemoteAddress, ushort RemotePort)
{
    public override string ToString() => $"{LocalAddress}:{LocalPort}<->{RemoteAddress}:{RemotePort}";
}
