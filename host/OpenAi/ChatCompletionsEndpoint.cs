using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary><c>POST /chat/completions</c>: OpenAI's chat request in, a <c>chat.completion</c> or its SSE chunks out.</summary>
internal sealed class ChatCompletionsEndpoint : IHandlerEndpoint<ChatCompletionRequest, ModelResponse>
{
    public static HandlerCapabilities Capability => HandlerCapabilities.ChatCompletions;

    public static string Operation => "chat";

    public static ChatCompletionRequest Read(JsonElement root, RequestTarget target, RequestLimits limits) => ChatRequestReader.Read(root, target);

    public static Usage? UsageOf(ModelResponse response) => response.Usage;

    public static Task<ModelResponse> InvokeAsync(CustomLlm handler, ChatCompletionRequest request, CancellationToken cancellationToken) =>
        handler.CompletionAsync(request, cancellationToken);

    public static void Write(Utf8JsonWriter writer, ChatCompletionRequest request, ModelResponse response) =>
        ChatResponseWriter.WriteCompletion(writer, response, ResponseIdentity.Create("chatcmpl-", request.RequestedModel));

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
