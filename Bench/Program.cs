using BenchmarkDotNet.Running;

namespace NetStack.Bench;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "tcp")
        {
            return TcpThroughput.Run(args[1..]);
        }
        if (args.Length > 0 && args[0] == "rxmem")
        {
            return ReceiveMemory.Run(args[1..]);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
