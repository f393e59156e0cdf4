using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using PluginHost.Routing;
using PluginHost.Sdk;
using PluginHost.Telemetry;

namespace PluginHost.OpenAi;

/// <summary>How one endpoint turns a handler's chunks into its own SSE events.</summary>
internal interface IStreamFormat
{
    /// <summary>Writes the events for <paramref name="chunk"/> (none, one or several).</summary>
    void Add(GenericStreamingChunk chunk, SseEvents events);

    /// <summary>Writes what closes the stream: open choices' finish, the usage chunk when asked for (not <see cref="Terminator"/>).</summary>
    void Complete(bool includeUsage, SseEvents events);

    /// <summary>The bytes after the last event of a complete stream: OpenAI's <c>data: [DONE]</c>; none for APIs whose last event says it.</summary>
    ReadOnlySpan<byte> Terminator => "data: [DONE]\n\n"u8;

    /// <summary>
    /// Writes the event that ends a stream failing after its first chunk. OpenAI's chat and text completions send
    /// <c>data: {"error":…}</c>, with the HTTP status (which can no longer be sent) as <c>code</c> when the
    /// handler gave no code of its own, as LiteLLM does.
    /// </summary>
    void Fail(OpenAiException error, SseEvents events) => events.Raw(SseStreaming.OpenAiErrorEvent(error));
}

/// <summary>
/// Serves a handler's stream as server-sent events. An error before the first chunk is a plain HTTP error;
/// after it, the status is sent, so the error becomes the format's error event (<see cref="IStreamFormat.Fail"/>)
/// and the stream ends.
/// Each chunk's events are built in a buffer and then written and flushed together: the client sees every
/// chunk as soon as the handler yields it, and a chunk that cannot be written never leaves half an event.
/// </summary>
internal static class SseStreaming
{
    /// <summary>
    /// Starts the handler's stream and waits for its first chunk, so an error before it can still be retried,
    /// fallen back from, or answered as a plain HTTP error. Returns the stream positioned on its first chunk
    /// (<see cref="StartedStream.HasChunk"/> is false for a stream that ended without one).
    /// </summary>
    public static async Task<StartedStream> StartAsync(HandlerBinding binding, Deadline deadline, HandlerStream stream)
    {
        IAsyncEnumerator<GenericStreamingChunk>? chunks = null;
        try
        {
            chunks = stream.Chunks.GetAsyncEnumerator(deadline.Token);
            var hasChunk = await NextAsync(chunks);
            deadline.FirstChunkArrived();
            return new StartedStream(chunks, hasChunk);
        }
        catch (Exception ex)
        {
            if (chunks is not null)
            {
                await DisposeQuietlyAsync(chunks);
            }

            throw deadline.Translate(ex, binding.HandlerName);
        }
    }

    /// <summary>
    /// Sends a started stream: the status and headers with its first chunk, then each chunk as the handler yields
    /// it. An error after the first chunk becomes one error event that ends the stream. Returns the last usage a
    /// chunk reported.
    /// </summary>
    public static async Task<Usage?> WriteAsync(HttpContext context, HandlerBinding binding, Deadline deadline, StartedStream started, HandlerStream stream)
    {
        var (format, includeUsage) = (stream.Format, stream.IncludeUsage);
        var chunks = started.Chunks;
        var hasChunk = started.HasChunk;
        Usage? usage = null;
        try
        {
            var response = context.Response;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            await response.StartAsync(context.RequestAborted);

            var pipe = response.BodyWriter;
            var events = new SseEvents();
            while (hasChunk)
            {
                var chunk = chunks.Current;
                usage = chunk.Usage ?? usage;
                try
                {
                    format.Add(chunk, events);
                }
                catch (Exception ex)
                {
                    events.Discard();
                    var error = new InvalidOperationException($"it yielded a chunk that cannot be written ({ex.GetType().Name}: {ex.Message})", ex);
                    await WriteErrorAsync(context, format, events, ErrorHandlingMiddleware.ToOpenAi(error, binding.HandlerName));
                    return usage;
                }

                await events.FlushToAsync(pipe, context.RequestAborted);
                try
                {
                    hasChunk = await NextAsync(chunks);
                }
                catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
                {
                    return usage;
                }
                catch (Exception ex)
                {
                    var error = ErrorHandlingMiddleware.ToOpenAi(deadline.Translate(ex, binding.HandlerName), binding.HandlerName);
                    await WriteErrorAsync(context, format, events, error);
                    return usage;
                }
            }

            format.Complete(includeUsage, events);
            events.Raw(format.Terminator);
            await events.FlushToAsync(pipe, context.RequestAborted);
            return usage;
        }
        finally
        {
            await chunks.DisposeAsync();
        }
    }

    /// <summary>Ends a stream that will not be sent (its attempt failed, or the client left).</summary>
    public static async ValueTask DisposeQuietlyAsync(IAsyncEnumerator<GenericStreamingChunk> chunks)
    {
        try
        {
            await chunks.DisposeAsync();
        }
        catch (Exception)
        {
            // The handler's cleanup failed after its stream already failed: the first error is the one to report.
        }
    }

    /// <summary>Moves to the handler's next chunk; a null chunk is a handler bug, reported like its exceptions.</summary>
    private static async ValueTask<bool> NextAsync(IAsyncEnumerator<GenericStreamingChunk> chunks)
    {
        if (!await chunks.MoveNextAsync())
        {
            return false;
        }

        return chunks.Current is not null
            ? true
            : throw new InvalidOperationException("the stream yielded null instead of a GenericStreamingChunk");
    }

    /// <summary>
    /// The format's error event, sent on its own (whatever a failed chunk had begun was discarded); the request's
    /// record keeps the error's class for the access log.
    /// </summary>
    private static async Task WriteErrorAsync(HttpContext context, IStreamFormat format, SseEvents events, OpenAiException error)
    {
        if (context.Features.Get<RequestRecord>() is { } record)
        {
            record.ErrorType = ErrorClasses.Of(error.Status, error.Code).ToString();
        }

        format.Fail(error, events);
        await events.FlushToAsync(context.Response.BodyWriter, context.RequestAborted);
    }

    /// <summary>OpenAI's error event: <c>data: {"error":…}</c>, with the HTTP status as <c>code</c> when there is no other.</summary>
    public static byte[] OpenAiErrorEvent(OpenAiException error)
    {
        var withStatus = error.Code is null ? new OpenAiException(error.Status, error.Message, error.Param, error.Status.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Type) : error;
        return [.. "data: "u8, .. ErrorWriter.ToJson(withStatus), .. "\n\n"u8];
    }
}

/// <summary>A handler's stream, started: positioned on its first chunk unless it had none.</summary>
internal readonly record struct StartedStream(IAsyncEnumerator<GenericStreamingChunk> Chunks, bool HasChunk);

/// <summary>A buffer of <c>data: …\n\n</c> events (or named ones, <c>event: …\ndata: …\n\n</c>), written to the response together.</summary>
internal sealed class SseEvents
{
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly Utf8JsonWriter _json;

    public SseEvents()
    {
        _json = new Utf8JsonWriter(_buffer, WireJsonContext.WriterOptions);
    }

    /// <summary>Starts an event; write one JSON value to the returned writer, then call <see cref="End"/>.</summary>
    public Utf8JsonWriter Begin()
    {
        _buffer.Write("data: "u8);
        _json.Reset(_buffer);
        return _json;
    }

    /// <summary>Starts an event named <paramref name="name"/> (<c>event: NAME</c>); write one JSON value, then call <see cref="End"/>.</summary>
    public Utf8JsonWriter Begin(ReadOnlySpan<byte> name)
    {
        _buffer.Write("event: "u8);
        _buffer.Write(name);
        _buffer.Write("\n"u8);
        return Begin();
    }

    public void End()
    {
        _json.Flush();
        _buffer.Write("\n\n"u8);
    }

    public void Raw(ReadOnlySpan<byte> bytes) => _buffer.Write(bytes);

    public void Discard()
    {
        _json.Reset(_buffer);
        _buffer.ResetWrittenCount();
    }

    public async ValueTask FlushToAsync(PipeWriter pipe, CancellationToken cancellationToken)
    {
        if (_buffer.WrittenCount > 0)
        {
            pipe.Write(_buffer.WrittenSpan);
            _buffer.ResetWrittenCount();
            await pipe.FlushAsync(cancellationToken);
        }
    }
}
