using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using PluginHost.OpenAi;
using PluginHost.Routing;

namespace PluginHost.Telemetry;

/// <summary>
/// Wires OpenTelemetry into the proxy as <see cref="TelemetryOptions"/> says: the metrics (Prometheus at <c>/metrics</c>,
/// OTLP when an endpoint is set), the tracer provider only when something will read its spans, and the request
/// middleware that records each handler request when it ends.
/// </summary>
internal static class TelemetrySetup
{
    /// <summary>The Prometheus scrape path.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>
    /// Registers the metrics and, when asked for, tracing. <paramref name="tracing"/> (tests) turns tracing on and
    /// configures it further, e.g. with an in-memory exporter.
    /// </summary>
    public static void AddPluginHostTelemetry(this WebApplicationBuilder builder, TelemetryOptions options, Action<TracerProviderBuilder>? tracing = null)
    {
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(services => new PluginHostMetrics(
            services.GetRequiredService<IMeterFactory>().Create(PluginHostMetrics.MeterName, ThisAssembly.Version), deferred: !options.Disabled));
        if (options.Disabled)
        {
            return;
        }

        // The metrics SDK starts after the proxy listens (MetricsSdk); the tracer provider, when there is one, at once.
        builder.Services.AddSingleton<MetricsSdk>();
        if (!options.Tracing && tracing is null)
        {
            // No tracer provider: no listener, so ASP.NET Core, HttpClient and PluginHost create no spans for it.
            return;
        }

        var configuration = builder.Configuration;
        builder.Services.AddOpenTelemetry().ConfigureResource(resource => DescribeService(resource, configuration)).WithTracing(traces =>
        {
            traces.AddSource(HostSpans.SourceName);
            traces.AddSource([.. options.Sources]);
            traces.AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = context => !IsProbeOrScrape(context.Request.Path));
            traces.AddHttpClientInstrumentation();
            if (options.OtlpTraces)
            {
                traces.AddOtlpExporter();
            }

            tracing?.Invoke(traces);
        });
    }

    /// <summary>Names the service <c>pluginhost</c> with the proxy's version, unless <c>OTEL_SERVICE_NAME</c> names it (the SDK's default resource reads that).</summary>
    public static void DescribeService(ResourceBuilder resource, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(configuration["OTEL_SERVICE_NAME"]))
        {
            resource.AddService("pluginhost", serviceVersion: ThisAssembly.Version);
        }
    }

    /// <summary>
    /// Starts the tracer provider now, so loading the first snapshot is traced, and the metrics SDK once the host has
    /// started; adds the request middleware (before the error handling, so it sees the status sent) and
    /// <c>/metrics</c>. Call <see cref="ObservePluginHost"/> once the first snapshot is loaded.
    /// </summary>
    public static void UsePluginHostTelemetry(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<TelemetryOptions>();
        var tracing = app.Services.GetService<TracerProvider>() is not null;
        Describe(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TelemetrySetup).FullName!), options, tracing);
        app.UseMiddleware<RequestTelemetryMiddleware>();
        if (options.Disabled)
        {
            return;
        }

        var sdk = app.Services.GetRequiredService<MetricsSdk>();
        app.Lifetime.ApplicationStarted.Register(sdk.StartInBackground);
        // The exporter's scrape pipeline is built (and the SDK started, if it has not) by the first scrape; a scrape that
        // fails to build it (the SDK still starting) leaves it to the next one, not cached.
        var scrape = new Lazy<RequestDelegate>(() =>
        {
            var branch = ((IApplicationBuilder)app).New();
            branch.UseOpenTelemetryPrometheusScrapingEndpoint(sdk.Provider, predicate: _ => true, path: null, configureBranchedPipeline: null, optionsName: null);
            return branch.Build();
        }, LazyThreadSafetyMode.PublicationOnly);
        app.Map(MetricsPath, context => scrape.Value(context));
    }

    /// <summary>Adds the state read at each collection (plugins, router); the router's state needs the first snapshot.</summary>
    public static void ObservePluginHost(this WebApplication app) =>
        app.Services.GetRequiredService<PluginHostMetrics>().Observe(app.Services.GetRequiredService<ProxyRuntime>(), app.Services.GetRequiredService<Router>());

    /// <summary>Says at startup what is measured and where it goes: the one place an operator sees that the variables took.</summary>
    private static void Describe(ILogger logger, TelemetryOptions options, bool tracing)
    {
        if (options.Disabled)
        {
            Log.TelemetryDisabled(logger);
            return;
        }

        var metrics = options.OtlpMetrics ? $"at {MetricsPath} and over OTLP" : $"at {MetricsPath}";
        var traces = !tracing ? "off (no OTLP endpoint; PLUGINHOST_TRACING=1 records them without one)"
            : options.OtlpTraces ? $"over OTLP, sources {string.Join(",", options.Sources)}"
            : $"recorded, not exported, sources {string.Join(",", options.Sources)}";
        Log.TelemetryStarted(logger, metrics, traces);
    }

    /// <summary>Health probes and scrapes come every few seconds and say nothing about requests: no spans for them.</summary>
    private static bool IsProbeOrScrape(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.Ordinal) || path.Equals(MetricsPath, StringComparison.Ordinal);
}
