using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// The one place where exceptions become OpenAI error responses: client mistakes keep their 4xx, handler
/// errors keep the handler's status, anything else is a 500 with no stack trace. An error answered before the request
/// body was read to its end is then delivered by <see cref="RequestBodyDrain"/>.
/// </summary>
internal sealed partial class ErrorHandlingMiddleware(RequestDelegate next, ProxyRuntime runtime, ILogger<ErrorHandlingMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is no one to answer.
            return;
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            var error = ToOpenAi(ex, handlerName: null);
            if (error.Status >= 500)
            {
                LogServerError(logger, context.Request.Path, ex);
            }

            ClearKeepingRouteHeaders(context.Response);
            if (RequestBodyDrain.ClosesConnection(error))
            {
                context.Response.Headers.Connection = "close";
            }

            await ErrorWriter.WriteAsync(context, error);
        }

        if (context.Response.StatusCode >= 400)
        {
            await RequestBodyDrain.AfterErrorAsync(context, runtime.Current.Config.MaxRequestBytes, logger);
        }
    }

    /// <summary>
    /// Clears what a failed request had started to set, but keeps the router's headers (<c>x-litellm-*</c>,
    /// <c>x-ratelimit-*</c>): which deployment was tried and how often is as useful on an error as on an answer.
    /// </summary>
    private static void ClearKeepingRouteHeaders(HttpResponse response)
    {
        List<KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>>? kept = null;
        foreach (var header in response.Headers)
        {
            if (header.Key.StartsWith("x-litellm-", StringComparison.OrdinalIgnoreCase) || header.Key.StartsWith("x-ratelimit-", StringComparison.OrdinalIgnoreCase))
            {
                (kept ??= []).Add(header);
            }
        }

        response.Clear();
        foreach (var (name, value) in kept ?? [])
        {
            response.Headers[name] = value;
        }
    }

    /// <summary>Maps any exception to the error the client should see.</summary>
    public static OpenAiException ToOpenAi(Exception exception, string? handlerName) => exception switch
    {
        OpenAiException openAi => openAi,
        CustomLlmException handler => new OpenAiException(
            handler.StatusCode is >= 400 and <= 599 ? handler.StatusCode : 500,
            handler.Message,
            handler.Param,
            handler.ErrorCode,
            handler.ErrorType) { RetryAfter = handler.RetryAfter },
        Workers.WorkerCallException worker => new OpenAiException(worker.Status, $"Handler '{handlerName ?? "?"}' {worker.Message}", code: worker.Code) { RetryAfter = worker.RetryAfter },
        BadHttpRequestException bad => new OpenAiException(bad.StatusCode, bad.Message),
        TimeoutException timeout => new OpenAiException(408, timeout.Message, code: "timeout"),
        _ => new OpenAiException(500, handlerName is null
            ? "Internal server error."
            : $"Handler '{handlerName}' failed: {exception.GetType().Name}: {exception.Message}"),
    };

    [LoggerMessage(100, LogLevel.Error, "Request {Path} failed")]
    private static partial void LogServerError(ILogger logger, PathString path, Exception exception);
}
