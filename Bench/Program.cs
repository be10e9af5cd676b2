using BenchmarkDotNet.Running;

namespace NetStack.Bench;

internal static class Program
{
    private static int Main(string[] args)
    {
        switch (args.FirstOrDefault())
        {
            case "tcp":
                return TcpThroughput.Run(args[1..]);
            case "report":
                return Report.ChartReport.Run(args[1..]);
            case "flood":
                return TcpFlood.Run(args[1..]);
            case "proxy":
                return ProxyThroughput.Run(args[1..]);
            case "rxmem":
                return ReceiveMemory.Run(args[1..]);
            case "rxmem-serve":
                return RxMemServe.RunMemory(args[1..]);
            case "flood-serve":
                return RxMemServe.RunFlood(args[1..]);
            case "harness":
                return HarnessBench.Run(args[1..]);
            default:
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
                return 0;
        }
    }
}
