using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// <c>POST /chat/completions</c>: OpenAI's chat request in, a <c>chat.completion</c> or its SSE chunks out. A
/// handler may answer with the upstream's own <c>chat.completion</c> bytes (<see cref="CustomLlm.CompletionJsonAsync"/>),
/// which are checked and sent without being parsed into records and serialized again.
/// </summary>
internal sealed class ChatCompletionsEndpoint : IHandlerEndpoint<ChatCompletionRequest, ChatAnswer>
{
    public static HandlerCapabilities Capability => HandlerCapabilities.ChatCompletions;

    public static string Operation => "chat";

    public static ChatCompletionRequest Read(JsonElement root, RequestTarget target, RequestLimits limits) => ChatRequestReader.Read(root, target);

    public static Usage? UsageOf(ChatAnswer answer) => answer.Usage;

    /// <summary>The handler's raw answer when it gives one (<see cref="CustomLlm.CompletionJsonAsync"/>), else its <see cref="ModelResponse"/>.</summary>
    public static async Task<ChatAnswer> InvokeAsync(CustomLlm handler, ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        if (await handler.CompletionJsonAsync(request, cancellationToken).ConfigureAwait(false) is { } raw)
        {
            return new ChatAnswer(raw);
        }

        // The pipeline's own words for a handler that returned nothing (it translates what InvokeAsync throws).
        return new ChatAnswer(await handler.CompletionAsync(request, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"it returned null instead of a {nameof(ModelResponse)}."));
    }

    public static void Write(Utf8JsonWriter writer, ChatCompletionRequest request, ChatAnswer answer)
    {
        if (answer.Raw is { } raw)
        {
            answer.RawUsage = RawChatCompletionWriter.Write(writer, raw.Json.Span, request.RequestedModel);
            return;
        }

        ChatResponseWriter.WriteCompletion(writer, answer.Record!, ResponseIdentity.Create("chatcmpl-", request.RequestedModel));
    }

    public static bool Streams(ChatCompletionRequest request) => request.Stream;

    public static HandlerStream Stream(CustomLlm handler, ChatCompletionRequest request, CancellationToken cancellationToken) => new(
        handler.StreamingAsync(request, cancellationToken),
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
