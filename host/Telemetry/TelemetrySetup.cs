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
        builder.Services.AddSingleton(services => new PluginHostMetrics(services.GetRequiredService<IMeterFactory>().Create(PluginHostMetrics.MeterName, ThisAssembly.Version)));
        if (options.Disabled)
        {
            return;
        }

        var telemetry = builder.Services.AddOpenTelemetry().ConfigureResource(resource =>
        {
            // OTEL_SERVICE_NAME, when set, names the service (read by the SDK's default resource).
            if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_SERVICE_NAME"]))
            {
                resource.AddService("pluginhost", serviceVersion: ThisAssembly.Version);
            }
        });
        telemetry.WithMetrics(metrics =>
        {
            metrics.AddMeter(PluginHostMetrics.MeterName);
            // Each scrape sees the counts as they are (the exporter's default keeps an answer for 300 ms).
            metrics.AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0);
            if (options.OtlpMetrics)
            {
                metrics.AddOtlpExporter();
            }
        });

        if (!options.Tracing && tracing is null)
        {
            // No tracer provider: no listener, so ASP.NET Core, HttpClient and PluginHost create no spans for it.
            return;
        }

        telemetry.WithTracing(traces =>
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

    /// <summary>
    /// Starts the providers now, so loading the first snapshot is traced and counted; adds the state read at each
    /// collection, the request middleware (before the error handling, so it sees the status sent), and <c>GET /metrics</c>.
    /// </summary>
    public static void UsePluginHostTelemetry(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<TelemetryOptions>();
        _ = app.Services.GetService<TracerProvider>();
        _ = app.Services.GetService<MeterProvider>();
        app.Services.GetRequiredService<PluginHostMetrics>().Observe(app.Services.GetRequiredService<ProxyRuntime>(), app.Services.GetRequiredService<Router>());
        app.UseMiddleware<RequestTelemetryMiddleware>();
        if (!options.Disabled)
        {
            app.MapPrometheusScrapingEndpoint(MetricsPath);
        }
    }

    /// <summary>Health probes and scrapes come every few seconds and say nothing about requests: no spans for them.</summary>
    private static bool IsProbeOrScrape(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.Ordinal) || path.Equals(MetricsPath, StringComparison.Ordinal);
}
