// Layer: link endpoints, software GSO. Why a packet could not be segmented.
namespace NetStack.Link.Gso;

/// <summary>Why <see cref="GsoSegmenter"/> refused a packet (bad input is reported, never thrown on).</summary>
public enum GsoError
{
    /// <summary>No error.</summary>
    None,
    /// <summary>A GSO type other than TCP over IPv4 or IPv6.</summary>
    UnsupportedType,
    /// <summary>The GSO type does not match the IP version (ARCHITECTURE.md §4).</summary>
    TypeMismatch,
    /// <summary><see cref="GsoOptions.MaxSegmentSize"/> is zero.</summary>
    ZeroMaxSegmentSize,
    /// <summary>The IP header is malformed, a fragment, or its length field disagrees with the packet length.</summary>
    BadIpHeader,
    /// <summary>The transport is not TCP, or the IPv6 chain has a routing header (unsupported).</summary>
    NotTcp,
    /// <summary>The TCP header is malformed or runs past the packet.</summary>
    BadTcpHeader,
    /// <summary>The IP and TCP headers are not all in the head segment.</summary>
    HeadersNotInHead,
    /// <summary><see cref="GsoOptions.ChecksumStart"/> is set and is not the offset of the TCP header.</summary>
    ChecksumStartMismatch,
    /// <summary>The segment index is negative or not below the segment count.</summary>
    IndexOutOfRange,
    /// <summary>The destination span or output array is too small.</summary>
    DestinationTooSmall,
}
