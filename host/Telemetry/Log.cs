namespace PluginHost.Telemetry;

/// <summary>
/// The access log, category <c>PluginHost.Access</c>: one entry per request. The message is the plain line
/// (<c>key=value</c>, an empty value where nothing is known); the same fields are the entry's structured state,
/// typed, which <c>--log-format json</c> writes under <c>State</c>.
/// </summary>
internal static partial class Log
{
    /// <summary>The access log's category: filter it like any other (<c>Logging__LogLevel__PluginHost.Access=None</c> turns it off).</summary>
    public const string AccessCategory = "PluginHost.Access";

    /// <summary>A request that is not a handler call (status pages, models, health), answered.</summary>
    [LoggerMessage(300, LogLevel.Information, "method={Method} path={Path} status={Status} duration_ms={DurationMs}")]
    public static partial void Request(ILogger logger, string method, string path, int status, double durationMs);

    /// <summary>A request that is not a handler call, failed: unknown routes, refused keys, a client that left.</summary>
    [LoggerMessage(302, LogLevel.Information, "method={Method} path={Path} status={Status} duration_ms={DurationMs} error={Error}")]
    public static partial void RequestFailed(ILogger logger, string method, string path, int status, double durationMs, string error);

    /// <summary>A handler call, with what the request pipeline recorded (<see cref="RequestRecord"/>).</summary>
    [LoggerMessage(
        301,
        LogLevel.Information,
        "method={Method} path={Path} status={Status} duration_ms={DurationMs} operation={Operation} model={Model} model_group={ModelGroup} " +
        "deployment={Deployment} plugin={Plugin} generation={Generation} stream={Stream} ttfc_ms={TtfcMs} prompt_tokens={PromptTokens} " +
        "completion_tokens={CompletionTokens} retries={Retries} fallbacks={Fallbacks} error={Error}")]
    public static partial void HandlerRequest(
        ILogger logger,
        string method,
        string path,
        int status,
        double durationMs,
        string operation,
        string? model,
        string? modelGroup,
        string? deployment,
        string? plugin,
        long? generation,
        bool stream,
        double? ttfcMs,
        int? promptTokens,
        int? completionTokens,
        int retries,
        int fallbacks,
        string? error);

    [LoggerMessage(400, LogLevel.Information, "Telemetry: metrics {Metrics}; traces {Traces}")]
    public static partial void TelemetryStarted(ILogger logger, string metrics, string traces);

    [LoggerMessage(401, LogLevel.Information, "Telemetry is off (OTEL_SDK_DISABLED): no metrics, no /metrics, no traces")]
    public static partial void TelemetryDisabled(ILogger logger);

    [LoggerMessage(402, LogLevel.Warning, "Telemetry started late: {Dropped} measurements made before it (beyond the first {Kept}) are not in the metrics")]
    public static partial void MeasurementsDropped(ILogger logger, int dropped, int kept);
}
