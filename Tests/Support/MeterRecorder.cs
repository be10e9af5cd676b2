// Records what a MeterListener sees of one meter's long-valued instruments, each measurement with its tags as
// sorted "key=value" text, for tests of how a component publishes its counters.
using System.Diagnostics.Metrics;

namespace NetStack.Tests.Support;

/// <summary>Listens to the meter called <c>meterName</c> (every instance of that name) from construction to disposal.</summary>
public sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly HashSet<Meter> _meters = [];
    private readonly List<(string Instrument, long Value, string Tags)> _measurements = [];

    public MeterRecorder(string meterName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName)
            {
                lock (_meters)
                {
                    _meters.Add(instrument.Meter);
                }
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var text = new List<string>();
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                text.Add($"{tag.Key}={tag.Value}");
            }
            text.Sort(StringComparer.Ordinal);
            lock (_measurements)
            {
                _measurements.Add((instrument.Name, value, string.Join(',', text)));
            }
        });
        _listener.Start();
    }

    /// <summary>The meter objects of that name seen publishing instruments.</summary>
    public int MeterCount
    {
        get
        {
            lock (_meters)
            {
                return _meters.Count;
            }
        }
    }

    /// <summary>Observes every observable instrument once and returns those measurements alone.</summary>
    public List<(string Instrument, long Value, string Tags)> Observe()
    {
        lock (_measurements)
        {
            _measurements.Clear();
        }
        _listener.RecordObservableInstruments();
        lock (_measurements)
        {
            return [.. _measurements];
        }
    }

    public void Dispose() => _listener.Dispose();
}
