namespace PluginHost.Telemetry;

internal static partial class Log
{
    [LoggerMessage(400, LogLevel.Information, "Telemetry: metrics {Metrics}; traces {Traces}")]
    public static partial void TelemetryStarted(ILogger logger, string metrics, string traces);

    [LoggerMessage(401, LogLevel.Information, "Telemetry is off (OTEL_SDK_DISABLED): no metrics, no /metrics, no traces")]
    public static partial void TelemetryDisabled(ILogger logger);
}
