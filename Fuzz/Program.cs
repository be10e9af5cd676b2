namespace NetStack.Fuzz;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.Error.WriteLine("usage: NetStack.Fuzz <target> (targets arrive with the fuzzing issue)");
        return args.Length == 0 ? 2 : 0;
    }
}
