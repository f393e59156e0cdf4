using PluginHost.Routing;

namespace PluginHost.Telemetry;

/// <summary>
/// When a handler request ends, records its metrics from its <see cref="RequestRecord"/>. Outside the error handling,
/// so it sees the status the client got. With no metrics listener it is a plain pass-through.
/// </summary>
internal sealed class RequestTelemetryMiddleware(RequestDelegate next, PluginHostMetrics metrics)
{
    public Task InvokeAsync(HttpContext context) => metrics.Enabled ? ObserveAsync(context) : next(context);

    private async Task ObserveAsync(HttpContext context)
    {
        var escaped = true;
        try
        {
            await next(context);
            escaped = false;
        }
        finally
        {
            if (context.Features.Get<RequestRecord>() is { } record)
            {
                var error = ErrorType(record, context, escaped);
                metrics.RequestEnded(record, error);
            }
        }
    }

    /// <summary>
    /// The class of the error the client got: the router's class of the last attempt's error, else the class of the
    /// status sent; for a stream cut after its first chunk (status 200 already sent) <c>_OTHER</c>, or <c>Cancelled</c>
    /// when the client left. Null for a success.
    /// </summary>
    internal static string? ErrorType(RequestRecord record, HttpContext context, bool escaped)
    {
        var status = context.Response.StatusCode;
        if (status >= 400)
        {
            return record.ErrorType ?? ErrorClasses.Of(status, null).ToString();
        }

        if (context.RequestAborted.IsCancellationRequested)
        {
            return TelemetryNames.Cancelled;
        }

        return escaped ? record.ErrorType ?? TelemetryNames.OtherError : null;
    }
}
