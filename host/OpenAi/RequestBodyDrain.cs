using Microsoft.AspNetCore.Http.Features;

namespace PluginHost.OpenAi;

/// <summary>
/// Delivers an error that was answered before the request body was read to its end (a 413, or a 401 or 404 to an
/// upload): the response is completed, then the rest of the body is read and discarded, at most
/// <see cref="MaxBytes"/> and for at most <see cref="MaxTime"/>, so a client that is still uploading finishes and
/// reads the error instead of a connection reset. Past either bound the connection is closed, and such a client may
/// see the reset after all: the bounds are what an upload may cost the proxy.
/// </summary>
/// <remarks>
/// Kestrel drains an unread body itself once the response has ended, but for at most 5 s and only within its
/// <c>MaxRequestBodySize</c>: a <c>Content-Length</c> over that limit is refused when the drain starts, and a chunked
/// body that crossed it stopped being read at that point, so either way the connection closed with the upload
/// unread. Hence the readers in <see cref="RequestBody"/> stop at the body limit by their own count and leave
/// Kestrel's limit at <see cref="MaxBytes"/>, and this drain, not Kestrel's, is what the client waits for.
/// </remarks>
internal static partial class RequestBodyDrain
{
    /// <summary>
    /// How long the rest of a body is read after its error before the connection is closed: nginx's
    /// <c>lingering_time</c>. A client that stalls is cut sooner by Kestrel's minimum request body data rate.
    /// </summary>
    public static readonly TimeSpan MaxTime = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The most a request may send, discarded rest included: four times <c>max_request_size_mb</c>, at least 64 MB
    /// (so a small limit still answers the uploads a client is likely to try).
    /// </summary>
    public static long MaxBytes(long bodyLimit) => Math.Max(4 * bodyLimit, 64L * 1024 * 1024);

    /// <summary>
    /// Sets Kestrel's own body limit to <see cref="MaxBytes"/> for a reader that counts to the body limit itself, so
    /// what is left after it stops can still be drained. Call before the first read.
    /// </summary>
    public static void AllowDrain(HttpContext context, long bodyLimit)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBytes(bodyLimit);
        }
    }

    /// <summary>
    /// Whether an error leaves the request body unread or unreadable, so the connection cannot carry another request:
    /// its response says <c>Connection: close</c>.
    /// </summary>
    public static bool ClosesConnection(OpenAiException error) => error.Status == StatusCodes.Status413PayloadTooLarge || error.Code == RequestBody.UnreadableCode;

    /// <summary>After an error response: completes it, then reads and discards what is left of the request body.</summary>
    public static async Task AfterErrorAsync(HttpContext context, long bodyLimit, ILogger logger)
    {
        var request = context.Request;
        if (context.RequestAborted.IsCancellationRequested || context.Features.Get<IHttpRequestBodyDetectionFeature>() is not { CanHaveBody: true })
        {
            return;
        }

        var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false } && request.Headers.Expect.ToString().Equals("100-continue", StringComparison.OrdinalIgnoreCase))
        {
            // The client waits for 100 Continue before it sends the body, and after a final response that never comes:
            // there is nothing to drain (Kestrel closes the connection after its own short wait).
            return;
        }

        var maxBytes = MaxBytes(bodyLimit);
        await context.Response.CompleteAsync();
        if (request.ContentLength > maxBytes)
        {
            // More than the proxy reads: Kestrel refuses the rest and closes the connection.
            LogNotDrained(logger, request.Path, request.ContentLength.Value, maxBytes);
            return;
        }

        AllowDrain(context, bodyLimit);
        var reader = request.BodyReader;
        CancellationTokenSource? timeout = null;
        long drained = 0;
        try
        {
            while (drained <= maxBytes)
            {
                // Most errors come after the whole body was read: only a wait for more of it starts the clock.
                if (!reader.TryRead(out var result))
                {
                    timeout ??= new CancellationTokenSource(MaxTime);
                    result = await reader.ReadAsync(timeout.Token);
                }

                drained += result.Buffer.Length;
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (timeout?.IsCancellationRequested == true && !context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is BadHttpRequestException or IOException or OperationCanceledException)
        {
            // The client went away, its framing broke or it sent more than Kestrel's limit: Kestrel closes the connection.
            return;
        }
        finally
        {
            timeout?.Dispose();
        }

        LogDrainStopped(logger, request.Path, drained, maxBytes, MaxTime.TotalSeconds);
        context.Abort();
    }

    [LoggerMessage(101, LogLevel.Information, "Request {Path}: the body's Content-Length {Length} is over the {MaxBytes} bytes read after an error; the connection is closed unread")]
    private static partial void LogNotDrained(ILogger logger, PathString path, long length, long maxBytes);

    [LoggerMessage(102, LogLevel.Information, "Request {Path}: stopped discarding the body after an error at {Drained} bytes (at most {MaxBytes} bytes, {Seconds} s); the connection is closed")]
    private static partial void LogDrainStopped(ILogger logger, PathString path, long drained, long maxBytes, double seconds);
}
