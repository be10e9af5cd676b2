// README.md's first-stack example, compiled and run here: the fenced block after the README's first-stack marker
// must equal the two marked regions of this file (the usings just below, the statements in the first test), line
// for line, so the front door cannot drift from code that builds and runs.
// first-stack:usings
using System.Net;
using NetStack.Link.Simulation;
// first-stack:end

using NetStack.Tests.Support;

namespace NetStack.Tests;

public class ReadmeTests
{
    private const string Marker = "<!-- first-stack: Tests/ReadmeTests.cs -->";

    [Fact(Timeout = 60_000)]
    public async Task FirstStack_TwoStacksAndATcpEcho_Run()
    {
        // first-stack:code
        await using var network = new InMemoryNetwork();                      // live: system clock, background pump
        InMemoryHost client = network.AddHost(), server = network.AddHost();  // 10.0.0.1 and 10.0.0.2 (and fd00::1, fd00::2)
        using var listener = server.Stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 7));
        _ = Task.Run(async () => { await using var peer = await listener.AcceptAsync(); await peer.CopyToAsync(peer); }); // echo
        await using var connection = await client.Stack.Tcp.ConnectAsync(new IPEndPoint(server.Ipv4, 7));
        await connection.WriteAsync("hello"u8.ToArray());
        connection.ShutdownSend();                                            // FIN: the echo ends and the server closes
        string reply = await new StreamReader(connection).ReadToEndAsync();   // "hello"
        // first-stack:end
        Assert.Equal("hello", reply);
    }

    [Fact]
    public void FirstStack_TheReadmeShowsExactlyTheCodeThatRuns()
    {
        string root = RepositoryPaths.Root();
        string[] source = File.ReadAllLines(Path.Combine(root, "Tests", "ReadmeTests.cs"));
        List<string> expected = [.. Region(source, "// first-stack:usings"), .. Region(source, "// first-stack:code")];
        Assert.InRange(expected.Count, 1, 10); // the front door's promise: ten lines at most
        Assert.Equal(expected, ReadmeBlock(File.ReadAllLines(Path.Combine(root, "README.md"))));
    }

    /// <summary>The lines between <paramref name="start"/> and the next end marker, without their common indentation.</summary>
    private static List<string> Region(string[] lines, string start)
    {
        int first = Array.FindIndex(lines, l => l.Trim() == start) + 1;
        Assert.True(first > 0, $"marker {start} missing");
        int end = Array.FindIndex(lines, first, l => l.Trim() == "// first-stack:end");
        string[] region = lines[first..end];
        int indent = region.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return [.. region.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())];
    }

    /// <summary>The fenced block that follows the README's marker.</summary>
    private static List<string> ReadmeBlock(string[] lines)
    {
        int marker = Array.IndexOf(lines, Marker);
        Assert.True(marker >= 0, $"README.md has no line '{Marker}'");
        Assert.Equal("```csharp", lines[marker + 1]);
        int end = Array.IndexOf(lines, "```", marker + 2);
        Assert.True(end > 0, "the README's block is not closed");
        return [.. lines[(marker + 2)..end]];
    }
}
