using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary><c>POST /chat/completions</c>: validates, leases the model's handler, and answers as JSON or SSE.</summary>
internal static class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ProxyRuntime runtime)
    {
        var snapshot = runtime.Current;
        using var document = await RequestBody.ReadJsonAsync(context, snapshot.Config.MaxRequestBytes);
        var root = document.RootElement;
        var model = ChatRequestReader.ReadModel(root);
        using var lease = Lease(runtime, model);
        var binding = lease.Binding!;
        var request = ChatRequestReader.Read(root, model, lease.Route.Deployment);
        using var deadline = Deadline.Start(context.RequestAborted, request.Timeout);
        if (request.Stream)
        {
            await StreamAsync(context, binding, request, deadline);
        }
        else
        {
            await CompleteAsync(context, binding, request, deadline);
        }
    }

    /// <summary>Leases the handler behind <paramref name="model"/>, or throws the error the client should get.</summary>
    public static HandlerLease Lease(ProxyRuntime runtime, string model)
    {
        var result = runtime.TryLease(model, out var lease);
        return result switch
        {
            LeaseResult.Leased => lease,
            LeaseResult.UnknownModel => throw new OpenAiException(
                400,
                $"Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key.",
                "model",
                "model_not_found"),
            _ => throw new OpenAiException(503, $"Model '{model}' is unavailable: {lease.Route.Unavailable}", "model", "model_unavailable"),
        };
    }

    private static async Task CompleteAsync(HttpContext context, HandlerBinding binding, ChatCompletionRequest request, Deadline deadline)
    {
        // The body is written to a buffer before anything is sent: a response the handler built wrongly (a null
        // message, a tool call without a function) is then its error, reported as one, never half a body.
        var body = new ArrayBufferWriter<byte>();
        try
        {
            var response = await binding.Handler.CompletionAsync(request, deadline.Token)
                ?? throw new InvalidOperationException("CompletionAsync returned null instead of a ModelResponse.");
            using var writer = new Utf8JsonWriter(body, WireJsonContext.WriterOptions);
            ChatResponseWriter.WriteCompletion(writer, response, ResponseIdentity.Create("chatcmpl-", request.RequestedModel));
        }
        catch (Exception ex)
        {
            throw deadline.Translate(ex, binding.HandlerName);
        }

        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.WrittenCount;
        await context.Response.BodyWriter.WriteAsync(body.WrittenMemory, context.RequestAborted);
    }

    private static async Task StreamAsync(HttpContext context, HandlerBinding binding, ChatCompletionRequest request, Deadline deadline)
    {
        var chunks = binding.Handler.StreamingAsync(request, deadline.Token).GetAsyncEnumerator(deadline.Token);
        try
        {
            bool hasChunk;
            try
            {
                // An error before the first chunk is a plain HTTP error.
                hasChunk = await NextAsync(chunks);
            }
            catch (Exception ex)
            {
                throw deadline.Translate(ex, binding.HandlerName);
            }

            var response = context.Response;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            await response.StartAsync(context.RequestAborted);

            var sse = new SseWriter(response.BodyWriter, ResponseIdentity.Create("chatcmpl-", request.RequestedModel));
            while (hasChunk)
            {
                await sse.WriteAsync(chunks.Current, context.RequestAborted);
                try
                {
                    hasChunk = await NextAsync(chunks);
                }
                catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    // After the first chunk the status is sent: the error becomes an SSE event and the stream ends.
                    await sse.WriteErrorAsync(ErrorHandlingMiddleware.ToOpenAi(deadline.Translate(ex, binding.HandlerName), binding.HandlerName), context.RequestAborted);
                    return;
                }
            }

            await sse.CompleteAsync(request.StreamOptions?.IncludeUsage == true, context.RequestAborted);
        }
        finally
        {
            await chunks.DisposeAsync();
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
            : throw new InvalidOperationException("StreamingAsync yielded null instead of a GenericStreamingChunk.");
    }

    /// <summary>
    /// Writes a stream's <c>data:</c> events straight to the response pipe, flushing each, and keeps the
    /// per-choice state OpenAI's format needs (role on the first delta, one finish per choice, tool call ids).
    /// </summary>
    private sealed class SseWriter(PipeWriter pipe, ResponseIdentity identity)
    {
        private readonly Utf8JsonWriter _json = new(pipe, WireJsonContext.WriterOptions);
        private readonly ToolCallIds _toolCallIds = new();
        private readonly Dictionary<int, ChoiceState> _choices = [];
        private Usage? _usage;

        public async ValueTask WriteAsync(GenericStreamingChunk chunk, CancellationToken cancellationToken)
        {
            if (chunk.Usage is not null)
            {
                _usage = chunk.Usage;
            }

            ref var state = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_choices, chunk.Index, out var existed);
            if (state.Finished)
            {
                return;
            }

            var hasDelta = chunk.Text.Length > 0 || chunk.ToolUse is not null || chunk.ReasoningContent is not null || chunk.ProviderSpecificFields is not null;
            if (hasDelta || !existed)
            {
                Event(w => ChatResponseWriter.WriteDeltaChunk(w, chunk, includeRole: !existed, _toolCallIds, identity));
                state.HasToolCalls |= chunk.ToolUse is not null;
            }

            if (chunk.IsFinished || chunk.FinishReason is not null)
            {
                state.Finished = true;
                var reason = chunk.FinishReason ?? (state.HasToolCalls ? FinishReason.ToolCalls : FinishReason.Stop);
                Event(w => ChatResponseWriter.WriteFinishChunk(w, chunk.Index, reason, identity));
            }

            await pipe.FlushAsync(cancellationToken);
        }

        public async ValueTask CompleteAsync(bool includeUsage, CancellationToken cancellationToken)
        {
            if (_choices.Count == 0)
            {
                await WriteAsync(GenericStreamingChunk.FromText(""), cancellationToken);
            }

            foreach (var (index, state) in _choices)
            {
                if (!state.Finished)
                {
                    var reason = state.HasToolCalls ? FinishReason.ToolCalls : FinishReason.Stop;
                    Event(w => ChatResponseWriter.WriteFinishChunk(w, index, reason, identity));
                }
            }

            if (includeUsage)
            {
                var usage = _usage ?? new Usage(0, 0);
                Event(w => ChatResponseWriter.WriteUsageChunk(w, usage, identity));
            }

            pipe.Write("data: [DONE]\n\n"u8);
            await pipe.FlushAsync(cancellationToken);
        }

        public async ValueTask WriteErrorAsync(OpenAiException error, CancellationToken cancellationToken)
        {
            pipe.Write("data: "u8);
            pipe.Write(ErrorWriter.ToJson(error));
            pipe.Write("\n\n"u8);
            await pipe.FlushAsync(cancellationToken);
        }

        private void Event(Action<Utf8JsonWriter> write)
        {
            pipe.Write("data: "u8);
            _json.Reset(pipe);
            write(_json);
            _json.Flush();
            pipe.Write("\n\n"u8);
        }

        private struct ChoiceState
        {
            public bool Finished;
            public bool HasToolCalls;
        }
    }
}

/// <summary>The request's cancellation: the client's disconnect, plus the deployment's timeout when it has one.</summary>
internal sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource? _timeout;
    private readonly TimeSpan? _after;
    private readonly CancellationToken _aborted;

    private Deadline(CancellationToken aborted, TimeSpan? after)
    {
        _aborted = aborted;
        _after = after;
        if (after is { } limit)
        {
            _timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            _timeout.CancelAfter(limit);
        }
    }

    public CancellationToken Token => _timeout?.Token ?? _aborted;

    public static Deadline Start(CancellationToken aborted, TimeSpan? timeout) => new(aborted, timeout);

    /// <summary>A handler exception as the client sees it: a timeout becomes 408, the rest keep their mapping.</summary>
    public Exception Translate(Exception exception, string handlerName)
    {
        if (exception is OperationCanceledException && _aborted.IsCancellationRequested)
        {
            return exception;
        }

        if (exception is OperationCanceledException && _timeout is { IsCancellationRequested: true })
        {
            return new OpenAiException(408, $"Request timed out: the handler did not answer within {_after!.Value.TotalSeconds:0.###} s (litellm_params.timeout).", code: "timeout");
        }

        return ErrorHandlingMiddleware.ToOpenAi(exception, handlerName);
    }

    public void Dispose() => _timeout?.Dispose();
}
