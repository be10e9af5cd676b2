// Layer: fuzzing harness. One class per target (dotnet/runtime's DotnetFuzzing layout): a target takes one input,
// runs the code under test and checks its invariants. It throws FuzzInvariantException when an invariant breaks
// and lets every unexpected exception escape, so both the fuzzer and the corpus replay report it as a crash.
namespace NetStack.Fuzz;

/// <summary>
/// A fuzz target. Implementations are discovered by reflection (<see cref="FuzzTargets"/>): adding a target is one
/// class with a public parameterless constructor plus one folder <c>Fuzz/Corpora/&lt;Name&gt;/</c> of seed inputs.
/// </summary>
public interface IFuzzTarget
{
    /// <summary>The target's name: the command-line argument and the corpus folder name.</summary>
    string Name { get; }

    /// <summary>
    /// Runs one input. Must not throw for any input unless an invariant is broken (then it throws
    /// <see cref="FuzzInvariantException"/>) or the code under test failed (any other exception escapes).
    /// Must leave no state behind that changes how a later input behaves.
    /// </summary>
    void Run(ReadOnlySpan<byte> input);
}
