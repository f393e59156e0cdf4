namespace PluginHost.Telemetry;

/// <summary>
/// What the proxy reports and where, read once at startup from the environment (through the host's configuration,
/// so <c>OTEL_…</c> variables work as in any OpenTelemetry SDK):
/// <list type="bullet">
/// <item>metrics are always collected in process, for <c>GET /metrics</c>; pushed over OTLP too when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or <c>OTEL_EXPORTER_OTLP_METRICS_ENDPOINT</c> is set;</item>
/// <item>traces are recorded only when something will read them: an OTLP endpoint (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
/// or <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c>), or <c>PLUGINHOST_TRACING=1</c> (spans made and dropped: for a
/// benchmark, or to continue the client's trace into upstreams without exporting). Otherwise no tracer listens and
/// no span is created;</item>
/// <item><c>OTEL_SDK_DISABLED=true</c> turns all of it off: no SDK, no <c>/metrics</c>.</item>
/// </list>
/// </summary>
internal sealed record TelemetryOptions
{
    /// <summary>The sources traced when <c>PLUGINHOST_TRACE_SOURCES</c> is not set: every one, handlers' own included.</summary>
    public const string AllSources = "*";

    /// <summary><c>OTEL_SDK_DISABLED=true</c>: no telemetry at all.</summary>
    public bool Disabled { get; init; }

    /// <summary>Whether a tracer provider listens (an OTLP traces endpoint, or <c>PLUGINHOST_TRACING</c>).</summary>
    public bool Tracing { get; init; }

    /// <summary>Spans are exported over OTLP.</summary>
    public bool OtlpTraces { get; init; }

    /// <summary>Metrics are exported over OTLP (beside <c>/metrics</c>).</summary>
    public bool OtlpMetrics { get; init; }

    /// <summary>
    /// <c>PLUGINHOST_TRACE_SOURCES</c>: the <see cref="System.Diagnostics.ActivitySource"/> names traced besides the
    /// host's own, ASP.NET Core's and HttpClient's, comma-separated, <c>*</c> as a wildcard; every source by default.
    /// </summary>
    public IReadOnlyList<string> Sources { get; init; } = [AllSources];

    /// <summary>Reads the options from <paramref name="configuration"/> (the environment, as the host sees it).</summary>
    public static TelemetryOptions From(IConfiguration configuration)
    {
        if (IsTrue(configuration["OTEL_SDK_DISABLED"]))
        {
            return new TelemetryOptions { Disabled = true, Sources = [] };
        }

        var anyEndpoint = IsSet(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var otlpTraces = anyEndpoint || IsSet(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
        var otlpMetrics = anyEndpoint || IsSet(configuration["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]);
        var sources = configuration["PLUGINHOST_TRACE_SOURCES"] is { } names && IsSet(names)
            ? names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [AllSources];
        return new TelemetryOptions
        {
            Tracing = otlpTraces || IsTrue(configuration["PLUGINHOST_TRACING"]),
            OtlpTraces = otlpTraces,
            OtlpMetrics = otlpMetrics,
            Sources = sources,
        };
    }

    private static bool IsSet(string? value) => !string.IsNullOrWhiteSpace(value);

    // As the OpenTelemetry SDK reads OTEL_SDK_DISABLED, and .NET its DOTNET_ switches.
    private static bool IsTrue(string? value) =>
        value is not null && (value.Trim() == "1" || string.Equals(value.Trim(), "true", StringComparison.OrdinalIgnoreCase));
}
