// The sample app's one service: a fixed list of items the endpoints look up.
namespace NetStack.Tests.SampleApi;

/// <summary>An item of the inventory.</summary>
/// <param name="Id">Its number.</param>
/// <param name="Name">Its name.</param>
public sealed record Item(int Id, string Name);

/// <summary>The items the app serves.</summary>
public sealed class Inventory
{
    private readonly Item[] _items = [new(1, "anchor"), new(2, "buoy"), new(3, "compass")];

    /// <summary>The item numbered <paramref name="id"/>, or null.</summary>
    public Item? Find(int id) => Array.Find(_items, i => i.Id == id);
}
