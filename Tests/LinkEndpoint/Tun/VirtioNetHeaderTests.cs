using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Link.Tun;
using NetStack.Wire;

namespace NetStack.Tests.LinkEndpoint.Tun;

public class VirtioNetHeaderTests
{
    // NEEDS_CSUM, TCPV4, hdr_len 52, gso_size 1448, csum_start 20, csum_offset 16 — as Linux writes it on x86-64
    // (host byte order, little-endian): 01 01 3400 a805 1400 1000.
    private static readonly byte[] TsoV4 = Convert.FromHexString("01013400a80514001000");

    [Fact]
    public void Parse_KnownBytes_LittleEndianFields()
    {
        Assert.True(VirtioNetHeader.TryParse(TsoV4, out VirtioNetHeader h, out WireError error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(VirtioNetFlags.NeedsChecksum, h.Flags);
        Assert.Equal(VirtioGsoType.TcpV4, h.GsoType);
        Assert.False(h.Ecn);
        Assert.Equal(52, h.HeaderLength);
        Assert.Equal(1448, h.GsoSize);
        Assert.Equal(20, h.ChecksumStart);
        Assert.Equal(16, h.ChecksumOffset);
    }

    [Fact]
    public void Emit_WritesEveryByte()
    {
        Assert.True(VirtioNetHeader.TryParse(TsoV4, out VirtioNetHeader h, out _));
        byte[] buffer = new byte[VirtioNetHeader.Length + 2];
        buffer.AsSpan().Fill(0xA5);
        h.Emit(buffer);
        Assert.Equal(TsoV4, buffer[..VirtioNetHeader.Length]);
        Assert.Equal(0xA5, buffer[^1]); // nothing past the header
        Assert.Equal(VirtioNetHeader.Length, h.BufferLength);
    }

    [Fact]
    public void Emit_AllZeroHeader_ClearsA5()
    {
        byte[] buffer = new byte[VirtioNetHeader.Length];
        buffer.AsSpan().Fill(0xA5);
        default(VirtioNetHeader).Emit(buffer);
        Assert.All(buffer, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Parse_Short_Truncated()
    {
        Assert.False(VirtioNetHeader.TryParse(TsoV4.AsSpan(0, 9), out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void EcnBit_SeparateFromType()
    {
        byte[] bytes = (byte[])TsoV4.Clone();
        bytes[1] = 0x84; // TCPV6 | ECN
        Assert.True(VirtioNetHeader.TryParse(bytes, out VirtioNetHeader h, out _));
        Assert.Equal(VirtioGsoType.TcpV6, h.GsoType);
        Assert.True(h.Ecn);
    }

    [Fact]
    public void FromGso_SuperSegment_AllFields()
    {
        var gso = new GsoOptions { Type = GsoType.TcpV6, NeedsChecksum = true, HeaderLength = 72, MaxSegmentSize = 1428, ChecksumStart = 40, ChecksumOffset = 16 };
        VirtioNetHeader h = VirtioNetHeader.FromGso(gso);
        Assert.Equal(new VirtioNetHeader { Flags = VirtioNetFlags.NeedsChecksum, GsoTypeByte = 4, HeaderLength = 72, GsoSize = 1428, ChecksumStart = 40, ChecksumOffset = 16 }, h);
    }

    [Fact]
    public void FromGso_PartialChecksumOnly_NoGsoFields()
    {
        var gso = new GsoOptions { NeedsChecksum = true, ChecksumStart = 20, ChecksumOffset = 6, HeaderLength = 28, MaxSegmentSize = 1000 };
        VirtioNetHeader h = VirtioNetHeader.FromGso(gso);
        Assert.Equal(new VirtioNetHeader { Flags = VirtioNetFlags.NeedsChecksum, ChecksumStart = 20, ChecksumOffset = 6 }, h);
    }

    [Fact]
    public void FromGso_Nothing_AllZero() => Assert.Equal(default, VirtioNetHeader.FromGso(default));

    [Property(MaxTest = 500)]
    public Property RoundTrip_EmitThenParse()
    {
        Gen<VirtioNetHeader> gen =
            from flags in Gen.Choose(0, 255)
            from type in Gen.Choose(0, 255)
            from a in Gen.Choose(0, 65535)
            from b in Gen.Choose(0, 65535)
            from c in Gen.Choose(0, 65535)
            from d in Gen.Choose(0, 65535)
            select new VirtioNetHeader { Flags = (VirtioNetFlags)flags, GsoTypeByte = (byte)type, HeaderLength = (ushort)a, GsoSize = (ushort)b, ChecksumStart = (ushort)c, ChecksumOffset = (ushort)d };
        return Prop.ForAll(Arb.From(gen), h =>
        {
            byte[] buffer = new byte[VirtioNetHeader.Length];
            buffer.AsSpan().Fill(0xA5);
            h.Emit(buffer);
            return VirtioNetHeader.TryParse(buffer, out VirtioNetHeader back, out _) && back == h;
        });
    }
}
