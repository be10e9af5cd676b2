using System.Reflection;

namespace NetStack.Fuzz;

/// <summary>
/// The fuzz targets of this assembly, found by reflection: every public non-abstract <see cref="IFuzzTarget"/> with a
/// parameterless constructor. Names are unique and compared case-insensitively on the command line.
/// </summary>
public static class FuzzTargets
{
    private static readonly Lazy<Type[]> s_types = new(() =>
        [.. typeof(IFuzzTarget).Assembly.GetExportedTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IFuzzTarget).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .OrderBy(t => t.Name, StringComparer.Ordinal)]);

    /// <summary>A fresh instance of every target, ordered by type name.</summary>
    public static IReadOnlyList<IFuzzTarget> CreateAll() => [.. s_types.Value.Select(Create)];

    /// <summary>The names of every target.</summary>
    public static IReadOnlyList<string> Names => [.. CreateAll().Select(t => t.Name)];

    /// <summary>A fresh instance of the target called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static IFuzzTarget? Find(string name) =>
        CreateAll().FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase));

    private static IFuzzTarget Create(Type type) => (IFuzzTarget)Activator.CreateInstance(type)!;
}
