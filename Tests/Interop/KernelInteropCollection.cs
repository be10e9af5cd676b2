namespace NetStack.Tests.Interop;

/// <summary>Kernel interop tests run one at a time: each owns a namespace and measures nothing, but they share two cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelInteropCollection
{
    public const string Name = "kernel-interop";
}
