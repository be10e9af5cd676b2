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
        Span<byte> data = stackalloc byte[36];
        Write(tuple.LocalAddress, data);
        Write(tuple.RemoteAddress, data[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(data[32..], tuple.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(data[34..], tuple.RemotePort);
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(_secret, data, hash);
        uint f = BinaryPrimitives.ReadUInt32BigEndian(hash);
        uint m = unchecked((uint)(_clock.GetUtcNow().UtcTicks / 40)); // 4 µs units (RFC 6528 §3)
        return new SequenceNumber(unchecked(f + m));
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
