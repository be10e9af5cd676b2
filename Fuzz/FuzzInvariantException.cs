namespace NetStack.Fuzz;

/// <summary>A fuzz target found the code under test breaking one of its invariants.</summary>
public sealed class FuzzInvariantException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public FuzzInvariantException()
        : base("A fuzz invariant was broken.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public FuzzInvariantException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and an inner exception.</summary>
    public FuzzInvariantException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
