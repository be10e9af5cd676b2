// Layer: wire formats. Every header view in NetStack.Wire is a readonly ref struct over a span, made by a
// checked factory (TryCreate) that proves no accessor can read out of bounds. A small value type (the
// "repr") holds the fields we support, with TryParse(view), BufferLength and Emit(span). Emit never fails
// on a buffer of exactly BufferLength and never re-validates. Input is untrusted: parsing never throws.
namespace NetStack.Wire;

/// <summary>Why a header view or repr refused its input. Parsers return one of these instead of throwing.</summary>
public enum WireError
{
    /// <summary>No error.</summary>
    None = 0,
    /// <summary>The buffer is shorter than the fixed header or than a length field claims.</summary>
    Truncated,
    /// <summary>The IP version nibble does not match the header type.</summary>
    BadVersion,
    /// <summary>A header-length field (IHL, TCP data offset, extension length) is below its minimum or past the buffer.</summary>
    BadHeaderLength,
    /// <summary>A total/payload length field disagrees with the header length or the buffer.</summary>
    BadTotalLength,
    /// <summary>An option (IPv4, TCP, IPv6 TLV) has a bad length or overruns its area.</summary>
    BadOption,
    /// <summary>A checksum does not verify.</summary>
    BadChecksum,
    /// <summary>A field holds a value that the RFC forbids (e.g. reserved bits, zero UDP checksum over IPv6).</summary>
    BadField,
    /// <summary>An IPv6 extension-header chain is longer than the walker's limit.</summary>
    ChainTooLong,
    /// <summary>A well-formed input that this implementation does not support.</summary>
    Unsupported,
}
