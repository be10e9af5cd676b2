using System.CommandLine;

namespace NetStack.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand("NetStack: an embeddable userspace TCP/IP stack for .NET.");
        return root.Parse(args).Invoke();
    }
}
