using System.Buffers;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary><c>POST /chat/completions</c>: validates, leases the model's handler, and answers as JSON or SSE.</summary>
internal static class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ProxyRuntime runtime)
    {
        using var call = await JsonApiCall.BeginAsync(context, runtime);
        var binding = call.Binding;
        var request = ChatRequestReader.Read(call.Root, call.Model, call.Deployment);
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
        ModelResponse response;
        try
        {
            response = await binding.Handler.CompletionAsync(request, deadline.Token)
                ?? throw new InvalidOperationException("CompletionAsync returned null instead of a ModelResponse.");
        }
        catch (Exception ex)
        {
            throw deadline.Translate(ex, binding.HandlerName);
        }

        // The body is written to a buffer before anything is sent: a response the handler built wrongly (a null
        // message, a tool call without a function) is then its error, reported as one, never half a body.
        var buffer = JsonBuffer.Rent();
        try
        {
            try
            {
                ChatResponseWriter.WriteCompletion(buffer.Writer, response, ResponseIdentity.Create("chatcmpl-", request.RequestedModel));
                buffer.Writer.Flush();
            }
            catch (Exception ex)
            {
                throw deadline.Translate(ex, binding.HandlerName);
            }

            context.Response.ContentType = "application/json";
            context.Response.ContentLength = buffer.Written.Length;
            context.Response.BodyWriter.Write(buffer.Written);
        }
        finally
        {
            JsonBuffer.Return(buffer);
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static Task StreamAsync(HttpContext context, HandlerBinding binding, ChatCompletionRequest request, Deadline deadline) =>
        SseStreaming.RunAsync(
            context,
            binding,
            deadline,
            binding.Handler.StreamingAsync(request, deadline.Token),
            new ChatStreamFormat(ResponseIdentity.Create("chatcmpl-", request.RequestedModel)),
            request.StreamOptions?.IncludeUsage == true);

    /// <summary>
    /// <c>chat.completion.chunk</c> events with the per-choice state OpenAI's format needs: role on a choice's
    /// first delta, one finish per choice (<c>tool_calls</c> when it called tools), stable tool call ids.
    /// </summary>
    private sealed class ChatStreamFormat(ResponseIdentity identity) : IStreamFormat
    {
        private readonly ToolCallIds _toolCallIds = new();
        private readonly Dictionary<int, ChoiceState> _choices = [];
        private Usage? _usage;

        public void Add(GenericStreamingChunk chunk, SseEvents events)
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
                ChatResponseWriter.WriteDeltaChunk(events.Begin(), chunk, includeRole: !existed, _toolCallIds, identity);
                events.End();
                state.HasToolCalls |= chunk.ToolUse is not null;
            }

            if (chunk.IsFinished || chunk.FinishReason is not null)
            {
                state.Finished = true;
                ChatResponseWriter.WriteFinishChunk(events.Begin(), chunk.Index, chunk.FinishReason ?? DefaultFinish(state), identity);
                events.End();
            }
        }

        public void Complete(bool includeUsage, SseEvents events)
        {
            if (_choices.Count == 0)
            {
                Add(GenericStreamingChunk.FromText(""), events);
            }

            foreach (var (index, state) in _choices)
            {
                if (!state.Finished)
                {
                    ChatResponseWriter.WriteFinishChunk(events.Begin(), index, DefaultFinish(state), identity);
                    events.End();
                }
            }

            if (includeUsage)
            {
                ChatResponseWriter.WriteUsageChunk(events.Begin(), _usage ?? new Usage(0, 0), identity);
                events.End();
            }
        }

        private static FinishReason DefaultFinish(ChoiceState state) => state.HasToolCalls ? FinishReason.ToolCalls : FinishReason.Stop;

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
