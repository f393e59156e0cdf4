using System.Buffers;
using System.Globalization;
using System.Text;
using PluginHost.Configuration;
using PluginHost.Routing;

namespace PluginHost.Telemetry;

/// <summary>
/// The access log: one entry per request, every request (401s, 404s and bad bodies included), written when the
/// request ends. Registered first, so it sees the status the client got, whichever middleware answered. For a
/// handler call it adds what the request pipeline recorded in its <see cref="RequestRecord"/>. What it measures
/// also feeds the status page's <see cref="RequestHistory"/>.
/// </summary>
/// <remarks>
/// Never logged: prompt or answer text (nothing of the body is read here) and headers, so no key. The path is
/// logged without its query string. Cheap on the hot path: two timestamps, the history's increments, and the
/// log call itself (whose message is formatted only when the category is enabled).
/// </remarks>
internal sealed class AccessLogMiddleware(RequestDelegate next, ILoggerFactory loggers, RequestHistory history, TimeProvider time, PluginHostOptions options)
{
    /// <summary>Status logged for a request whose client left before an answer was sent (nginx's).</summary>
    public const int ClientClosedStatus = 499;

    private readonly ILogger _logger = loggers.CreateLogger(Log.AccessCategory);

    // JSON escapes what it writes; the plain line quotes values that would break it into more fields or lines.
    private readonly bool _quote = options.LogFormat == LogFormat.Plain;

    public async Task InvokeAsync(HttpContext context)
    {
        var started = time.GetTimestamp();
        try
        {
            await next(context);
        }
        catch
        {
            Complete(context, started, crashed: true);
            throw;
        }

        Complete(context, started, crashed: false);
    }

    private void Complete(HttpContext context, long started, bool crashed)
    {
        var ended = time.GetTimestamp();
        var duration = time.GetElapsedTime(started, ended);
        var response = context.Response;
        var left = context.RequestAborted.IsCancellationRequested;
        var status = response.HasStarted ? response.StatusCode
            : crashed ? StatusCodes.Status500InternalServerError
            : left ? ClientClosedStatus
            : response.StatusCode;
        if (context.GetEndpoint()?.Metadata.GetMetadata<RequestHistory.NotCounted>() is null)
        {
            history.Record(ended, duration, status);
        }

        if (!_logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var record = context.Features.Get<RequestRecord>();
        var error = record?.ErrorType
            ?? (left ? "ClientClosed"
            : crashed ? nameof(ErrorClass.InternalServer)
            : status >= 400 ? ErrorName(ErrorClasses.Of(status, null))
            : null);
        var method = context.Request.Method;
        var path = Text(context.Request.Path.Value ?? "/");
        var durationMs = Math.Round(duration.TotalMilliseconds, 3);
        if (record is null)
        {
            if (error is null)
            {
                Log.Request(_logger, method, path, status, durationMs);
            }
            else
            {
                Log.RequestFailed(_logger, method, path, status, durationMs, error);
            }

            return;
        }

        Log.HandlerRequest(
            _logger,
            method,
            path,
            status,
            durationMs,
            record.Operation,
            Text(record.RequestedModel),
            Text(record.ModelGroup),
            Text(record.Deployment),
            Text(record.Plugin),
            record.PluginGeneration,
            record.Stream,
            record.TimeToFirstChunk is { } first ? Math.Round(first.TotalMilliseconds, 3) : null,
            record.Usage?.PromptTokens,
            record.Usage?.CompletionTokens,
            record.Retries,
            record.Fallbacks,
            error);
    }

    private static string ErrorName(ErrorClass error) => error switch
    {
        ErrorClass.RateLimit => nameof(ErrorClass.RateLimit),
        ErrorClass.Timeout => nameof(ErrorClass.Timeout),
        ErrorClass.Authentication => nameof(ErrorClass.Authentication),
        ErrorClass.PermissionDenied => nameof(ErrorClass.PermissionDenied),
        ErrorClass.NotFound => nameof(ErrorClass.NotFound),
        ErrorClass.InternalServer => nameof(ErrorClass.InternalServer),
        ErrorClass.ContextWindowExceeded => nameof(ErrorClass.ContextWindowExceeded),
        ErrorClass.ContentPolicyViolation => nameof(ErrorClass.ContentPolicyViolation),
        _ => nameof(ErrorClass.BadRequest),
    };

    /// <summary>A value for the plain line: as it is, or quoted when it holds a space, a quote, an equals sign or a control character.</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(value))]
    private string? Text(string? value) => _quote && value is not null && value.AsSpan().IndexOfAny(NeedsQuotes) >= 0 ? Quoted(value) : value;

    private static readonly SearchValues<char> NeedsQuotes = SearchValues.Create(
        " \"=\\" + string.Concat(Enumerable.Range(0, 32).Select(c => (char)c)) + "\u007f\u0085\u2028\u2029");

    private static string Quoted(string value)
    {
        var quoted = new StringBuilder(value.Length + 8).Append('"');
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => quoted.Append("\\\""),
                '\\' => quoted.Append("\\\\"),
                '\n' => quoted.Append("\\n"),
                '\r' => quoted.Append("\\r"),
                '\t' => quoted.Append("\\t"),
                _ when char.IsControl(c) || c is '\u2028' or '\u2029' => quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => quoted.Append(c),
            };
        }

        return quoted.Append('"').ToString();
    }
}
