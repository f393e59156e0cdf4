using System.Diagnostics.Metrics;
using PluginHost.Telemetry;

namespace PluginHost.Tests.Unit;

/// <summary>
/// The metrics made before the OpenTelemetry SDK listens (it starts after the proxy listens): kept, then made exactly
/// once when it does. A <see cref="MeterListener"/> stands in for the SDK.
/// </summary>
public sealed class DeferredMetricsTests
{
    [Test]
    public void Measurements_made_before_the_SDK_listens_are_made_once_when_it_does_and_later_ones_directly()
    {
        using var meter = new Meter($"PluginHost.Tests.{Guid.NewGuid():N}");
        var metrics = new PluginHostMetrics(meter, deferred: true);
        Assert.That(metrics.Enabled, Is.True, "requests are recorded while the SDK is still to start");

        metrics.Reloaded(null, 0);
        metrics.Reloaded("bad yaml", 0);
        metrics.PluginLoaded("Hi", TimeSpan.FromMilliseconds(5), ok: true);
        using var sdk = new CountingListener(meter);
        Assert.That(sdk.Total, Is.Zero, "kept, not yet made");

        Assert.That(metrics.StartedListening(), Is.Zero);
        Assert.That(sdk.Count("pluginhost.reloads"), Is.EqualTo(2));
        Assert.That(sdk.Count("pluginhost.plugin.load.duration"), Is.EqualTo(1));

        metrics.Reloaded(null, 0);
        metrics.StartedListening();
        Assert.That(sdk.Count("pluginhost.reloads"), Is.EqualTo(3), "made directly, and nothing replayed twice");
    }

    [Test]
    public void Every_measurement_made_while_the_SDK_starts_is_counted_exactly_once()
    {
        using var meter = new Meter($"PluginHost.Tests.{Guid.NewGuid():N}");
        var metrics = new PluginHostMetrics(meter, deferred: true);
        using var sdk = new CountingListener(meter, start: false);
        const int Threads = 4;
        const int Each = 20_000;
        using var started = new CountdownEvent(Threads);
        var recorders = Enumerable.Range(0, Threads).Select(_ => Task.Run(() =>
        {
            started.Signal();
            for (var i = 0; i < Each; i++)
            {
                metrics.Reloaded(null, 0);
            }
        })).ToArray();

        started.Wait();
        sdk.Start();
        metrics.StartedListening();
        Task.WaitAll(recorders);

        Assert.That(sdk.Count("pluginhost.reloads"), Is.EqualTo(Threads * Each));
    }

    [Test]
    public void Beyond_the_limit_measurements_are_not_kept_and_the_start_says_how_many()
    {
        using var meter = new Meter($"PluginHost.Tests.{Guid.NewGuid():N}");
        var metrics = new PluginHostMetrics(meter, deferred: true);
        for (var i = 0; i < PendingMeasurements.Limit + 7; i++)
        {
            metrics.Reloaded(null, 0);
        }

        using var sdk = new CountingListener(meter);
        Assert.That(metrics.StartedListening(), Is.EqualTo(7));
        Assert.That(sdk.Count("pluginhost.reloads"), Is.EqualTo(PendingMeasurements.Limit));
    }

    [Test]
    public void Without_a_deferred_SDK_nothing_is_kept_and_nobody_listening_means_disabled()
    {
        using var meter = new Meter($"PluginHost.Tests.{Guid.NewGuid():N}");
        var metrics = new PluginHostMetrics(meter);
        Assert.That(metrics.Enabled, Is.False);
        metrics.Reloaded(null, 0);

        using var sdk = new CountingListener(meter);
        Assert.That(metrics.StartedListening(), Is.Zero);
        Assert.That(sdk.Total, Is.Zero, "made before anyone listened: gone, as with any instrument");
        Assert.That(metrics.Enabled, Is.True);
    }

    /// <summary>Counts the measurements of one meter's instruments, by instrument name.</summary>
    private sealed class CountingListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _counts = [];

        public CountingListener(Meter meter, bool start = true)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter == meter)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, _, _, _) => Increment(instrument.Name));
            _listener.SetMeasurementEventCallback<double>((instrument, _, _, _) => Increment(instrument.Name));
            if (start)
            {
                Start();
            }
        }

        public long Total
        {
            get
            {
                lock (_counts)
                {
                    return _counts.Values.Sum();
                }
            }
        }

        public void Start() => _listener.Start();

        public long Count(string instrument)
        {
            lock (_counts)
            {
                return _counts.GetValueOrDefault(instrument);
            }
        }

        public void Dispose() => _listener.Dispose();

        private void Increment(string instrument)
        {
            lock (_counts)
            {
                _counts[instrument] = _counts.GetValueOrDefault(instrument) + 1;
            }
        }
    }
}
