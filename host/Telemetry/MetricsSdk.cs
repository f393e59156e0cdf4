using OpenTelemetry.Metrics;
using PluginHost.OpenAi;
using PluginHost.Plugins;

namespace PluginHost.Telemetry;

/// <summary>
/// The OpenTelemetry metrics SDK (the Prometheus exporter, and OTLP when an endpoint is set), started after the proxy
/// listens instead of before: building it is about a third of what the proxy adds to a bare app's start (BENCHMARKS.md
/// row 7), and the first answer need not wait for it. It starts on a thread of the lowest CPU priority once the host has
/// started, or at once when something needs it first: a scrape of <c>/metrics</c>, or the stop of a proxy that exports
/// over OTLP. <see cref="PluginHostMetrics"/> keeps what it records until then and replays it, so nothing is lost.
/// </summary>
internal sealed class MetricsSdk(TelemetryOptions options, IConfiguration configuration, PluginHostMetrics metrics, ILogger<MetricsSdk> logger) : IDisposable
{
    private readonly Lock _lock = new();
    private MeterProvider? _provider;
    private bool _disposed;

    /// <summary>How long a scrape waits for a start under way on the background thread, which busy CPUs can starve.</summary>
    private static readonly TimeSpan StartWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The SDK's provider, started now if it has not been. A 503 (a failed scrape, not a hung one) when the background
    /// start holds it and has not finished within <see cref="StartWait"/>: at the lowest priority it runs only when the
    /// CPU has nothing else to do.
    /// </summary>
    public MeterProvider Provider
    {
        get
        {
            if (!_lock.TryEnter(StartWait))
            {
                throw new OpenAiException(503, "Metrics are still starting (the CPU is busy); scrape again shortly.", code: "metrics_starting");
            }

            try
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _provider ??= Start();
            }
            finally
            {
                _lock.Exit();
            }
        }
    }

    /// <summary>Starts the SDK on a thread of its own at the lowest CPU priority (it waits for the requests being served).</summary>
    public void StartInBackground() =>
        new Thread(() =>
        {
            BackgroundPriority.LowerCurrentThread();
            lock (_lock)
            {
                if (!_disposed)
                {
                    _provider ??= Start();
                }
            }
        })
        {
            IsBackground = true,
            Name = "telemetry-start",
        }.Start();

    /// <summary>Stops the SDK; one that exports over OTLP is started first if it has not been, so what was kept is sent.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            if (_provider is null && options.OtlpMetrics)
            {
                _provider = Start();
            }

            _disposed = true;
            _provider?.Dispose();
        }
    }

    private MeterProvider Start()
    {
        // The configuration the proxy started with (OTEL_* variables included), not the environment at this later moment.
        var builder = OpenTelemetry.Sdk.CreateMeterProviderBuilder()
            .ConfigureServices(services => services.AddSingleton(configuration))
            .ConfigureResource(resource => TelemetrySetup.DescribeService(resource, configuration))
            .AddMeter(PluginHostMetrics.MeterName)
            // Each scrape sees the counts as they are (the exporter's default keeps an answer for 300 ms).
            .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0);
        if (options.OtlpMetrics)
        {
            builder.AddOtlpExporter();
        }

        var provider = builder.Build();
        if (metrics.StartedListening() is > 0 and var dropped)
        {
            Log.MeasurementsDropped(logger, dropped, PendingMeasurements.Limit);
        }

        return provider;
    }
}
