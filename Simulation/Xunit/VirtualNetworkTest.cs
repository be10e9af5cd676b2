// The xunit integration: a base class that gives each test a virtual network with a capture, tears it down in
// order, fails the test on leaks, and on failure writes the summary and the pcap's path to the test output.
using Xunit;
using Xunit.Abstractions;

namespace NetStack.Simulation.Xunit;

/// <summary>
/// Base class of a test class that runs on a <see cref="VirtualNetwork"/>: each test gets a fresh
/// <see cref="Network"/> capturing every link to a temporary pcapng file. Run the test's body through
/// <see cref="RunAsync"/>: when it fails, the network's summary and the capture's path go to the test output (and the
/// capture is kept). After each test the network is disposed in order and checked for leaks (listeners or sockets
/// left open, packet buffers never returned), which fail the test with a report rather than a hang.
/// </summary>
public abstract class VirtualNetworkTest : IAsyncLifetime
{
    private bool _failed;

    /// <summary>Creates the test's network from <paramref name="options"/> (a capture is added unless they name one).</summary>
    protected VirtualNetworkTest(ITestOutputHelper output, VirtualNetworkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        Output = output;
        options ??= new VirtualNetworkOptions();
        CapturePath = options.CapturePath ?? Path.Combine(Path.GetTempPath(), $"netstack-{GetType().Name}-{Guid.NewGuid():N}.pcapng");
        Network = new VirtualNetwork(options with { CapturePath = CapturePath });
    }

    /// <summary>The test's network.</summary>
    protected VirtualNetwork Network { get; }

    /// <summary>The test's output.</summary>
    protected ITestOutputHelper Output { get; }

    /// <summary>Where the capture goes (kept when the test fails, deleted otherwise).</summary>
    protected string CapturePath { get; }

    /// <summary>Keeps the capture even when the test passes.</summary>
    protected bool KeepCapture { get; set; }

    /// <summary>Runs the test's body on the network (<see cref="VirtualNetwork.RunAsync(Func{Task}, TimeSpan?)"/>); on failure writes what happened to the output.</summary>
    protected async Task RunAsync(Func<Task> scenario, TimeSpan? limit = null)
    {
        try
        {
            await Network.RunAsync(scenario, limit).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _failed = true;
            Network.Capture?.Flush();
            Output.WriteLine($"FAILED: {e.GetType().Name}: {e.Message}");
            Output.WriteLine(Network.Summary());
            Output.WriteLine($"capture kept: {CapturePath}");
            throw;
        }
    }

    /// <inheritdoc/>
    public virtual Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc/>
    public virtual async Task DisposeAsync()
    {
        string summary = Network.Summary();
        string? leaks = await Network.DisposeAndCheckLeaksAsync().ConfigureAwait(false);
        if (leaks is not null)
        {
            Output.WriteLine(summary);
            Output.WriteLine($"capture kept: {CapturePath}");
            throw new VirtualNetworkLeakException(leaks);
        }
        if (!_failed && !KeepCapture)
        {
            File.Delete(CapturePath);
        }
    }
}

/// <summary>A test left something open on its virtual network (the message lists what).</summary>
public sealed class VirtualNetworkLeakException(string report) : Exception($"The test leaked:{Environment.NewLine}{report}");
