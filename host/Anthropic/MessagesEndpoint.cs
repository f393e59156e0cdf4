using System.Text;
using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;

namespace PluginHost.Anthropic;

/// <summary>
/// <c>POST /v1/messages</c>: Anthropic's Messages API on the handler's chat methods. The request becomes a chat
/// request (<see cref="MessagesRequestReader"/>); the handler's first choice becomes a <c>message</c> with content
/// blocks (<c>thinking</c>, <c>text</c>, <c>tool_use</c>), its finish reason the <c>stop_reason</c>; or, with
/// <c>stream: true</c>, Anthropic's events. Errors on this route have Anthropic's shape (<see cref="AnthropicShape"/>).
/// </summary>
internal sealed class MessagesEndpoint : IHandlerEndpoint<ChatCompletionRequest, ModelResponse>
{
    public static HandlerCapabilities Capability => HandlerCapabilities.ChatCompletions;

    public static string Operation => "chat";

    public static ChatCompletionRequest Read(JsonElement root, RequestTarget target, RequestLimits limits) => MessagesRequestReader.Read(root, target);

    public static Usage? UsageOf(ModelResponse response) => response.Usage;

    public static Task<ModelResponse> InvokeAsync(CustomLlm handler, ChatCompletionRequest request, CancellationToken cancellationToken) =>
        handler.CompletionAsync(request, cancellationToken);

    public static bool Streams(ChatCompletionRequest request) => request.Stream;

    public static HandlerStream Stream(CustomLlm handler, ChatCompletionRequest request, CancellationToken cancellationToken) => new(
        handler.StreamingAsync(request, cancellationToken),
        new MessagesStreamFormat(ResponseIdentity.Create("msg_", request.RequestedModel)),
        IncludeUsage: false);

    public static void Write(Utf8JsonWriter writer, ChatCompletionRequest request, ModelResponse response)
    {
        var choices = ResponseJson.Required(response.Choices, "ModelResponse.Choices");
        if (choices.Count == 0)
        {
            throw new InvalidAnswerException("ModelResponse.Choices is empty.");
        }

        var choice = ResponseJson.Item(choices[0], "ModelResponse.Choices", 0);
        var message = choice.Message ?? throw new InvalidAnswerException("ModelResponse.Choices[0].Message is null.");
        var calls = message.ToolCalls ?? [];
        var identity = ResponseIdentity.Create("msg_", request.RequestedModel);
        WriteMessageStart(writer, identity);
        writer.WriteStartArray("content"u8);
        if (message.ReasoningContent is { Length: > 0 } reasoning)
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "thinking"u8);
            writer.WriteString("thinking"u8, reasoning);
            writer.WriteString("signature"u8, ""u8);
            writer.WriteEndObject();
        }

        if (message.Content is { Length: > 0 } || calls.Count == 0)
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "text"u8);
            writer.WriteString("text"u8, message.Content ?? "");
            writer.WriteEndObject();
        }

        for (var i = 0; i < calls.Count; i++)
        {
            var call = calls[i] ?? throw new InvalidAnswerException($"ModelResponse.Choices[0].Message.ToolCalls[{i}] is null.");
            var function = call.Function ?? throw new InvalidAnswerException($"ModelResponse.Choices[0].Message.ToolCalls[{i}].Function is null.");
            writer.WriteStartObject();
            writer.WriteString("type"u8, "tool_use"u8);
            writer.WriteString("id"u8, call.Id);
            writer.WriteString("name"u8, function.Name);
            writer.WritePropertyName("input"u8);
            WriteInput(writer, function.Arguments, i);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteString("stop_reason"u8, StopReason(choice.FinishReason, calls.Count > 0));
        writer.WriteNull("stop_sequence"u8);
        WriteUsage(writer, response.Usage ?? new Usage(0, 0));
        writer.WriteEndObject();
    }

    /// <summary>Anthropic's <c>stop_reason</c> for a finish reason.</summary>
    public static string StopReason(FinishReason? finish, bool calledTools) =>
        finish == FinishReason.Length ? "max_tokens"
        : finish == FinishReason.ToolCalls || finish == FinishReason.FunctionCall ? "tool_use"
        : finish == FinishReason.ContentFilter ? "refusal"
        : finish is null && calledTools ? "tool_use"
        : "end_turn";

    /// <summary>The message object up to its <c>content</c>.</summary>
    private static void WriteMessageStart(Utf8JsonWriter writer, in ResponseIdentity identity)
    {
        writer.WriteStartObject();
        writer.WriteString("id"u8, identity.Id);
        writer.WriteString("type"u8, "message"u8);
        writer.WriteString("role"u8, "assistant"u8);
        writer.WriteString("model"u8, identity.Model);
    }

    private static void WriteUsage(Utf8JsonWriter writer, Usage usage)
    {
        writer.WriteStartObject("usage"u8);
        writer.WriteNumber("input_tokens"u8, usage.PromptTokens);
        writer.WriteNumber("output_tokens"u8, usage.CompletionTokens);
        writer.WriteEndObject();
    }

    /// <summary>A tool call's arguments as the <c>tool_use</c> block's <c>input</c> object (none is <c>{}</c>).</summary>
    private static void WriteInput(Utf8JsonWriter writer, string? arguments, int index)
    {
        if (string.IsNullOrWhiteSpace(arguments))
        {
            writer.WriteStartObject();
            writer.WriteEndObject();
            return;
        }

        try
        {
            using var input = JsonDocument.Parse(arguments);
            if (input.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidAnswerException($"ModelResponse.Choices[0].Message.ToolCalls[{index}].Function.Arguments is not a JSON object.");
            }

            input.RootElement.WriteTo(writer);
        }
        catch (JsonException ex)
        {
            throw new InvalidAnswerException($"ModelResponse.Choices[0].Message.ToolCalls[{index}].Function.Arguments is not JSON: {ex.Message}");
        }
    }

    /// <summary>
    /// Anthropic's stream: <c>message_start</c> and <c>ping</c>, then content blocks one after another
    /// (<c>content_block_start</c>, deltas, <c>content_block_stop</c>), then <c>message_delta</c> with the stop reason
    /// and usage, and <c>message_stop</c>; a handler error after the first event is an <c>error</c> event. Blocks
    /// cannot interleave here, so the pieces of a tool call that arrive while another call's block is open are held
    /// and sent as their own block after it. Only the first choice is shown.
    /// </summary>
    private sealed class MessagesStreamFormat(ResponseIdentity identity) : IStreamFormat
    {
        private readonly SortedDictionary<int, PendingCall> _held = [];
        private readonly HashSet<int> _sentCalls = [];
        private bool _started;
        private int _blocks;
        private Block _open;
        private int _openCall = -1;
        private Usage? _usage;
        private FinishReason? _finish;

        private enum Block
        {
            None,
            Thinking,
            Text,
            ToolUse,
        }

        public ReadOnlySpan<byte> Terminator => [];

        public void Add(GenericStreamingChunk chunk, SseEvents events)
        {
            Start(events);
            _usage = chunk.Usage ?? _usage;
            if (chunk.Index != 0)
            {
                return;
            }

            _finish = chunk.FinishReason ?? _finish;
            if (chunk.ReasoningContent is { Length: > 0 } reasoning)
            {
                Open(events, Block.Thinking);
                var json = Delta(events);
                json.WriteString("type"u8, "thinking_delta"u8);
                json.WriteString("thinking"u8, reasoning);
                EndDelta(json, events);
            }

            if (chunk.Text.Length > 0)
            {
                Open(events, Block.Text);
                var json = Delta(events);
                json.WriteString("type"u8, "text_delta"u8);
                json.WriteString("text"u8, chunk.Text);
                EndDelta(json, events);
            }

            if (chunk.ToolUse is { } use)
            {
                AddToolPiece(events, use);
            }
        }

        public void Complete(bool includeUsage, SseEvents events)
        {
            Start(events);
            if (_blocks == 0 && _open == Block.None && _held.Count == 0)
            {
                Open(events, Block.Text);
            }

            Close(events);
            foreach (var (index, call) in _held)
            {
                StartToolUse(events, index, call.Id, call.Name);
                if (call.Arguments.Length > 0)
                {
                    JsonDelta(events, call.Arguments.ToString());
                }

                Close(events);
            }

            var json = Event(events, "message_delta"u8);
            json.WriteStartObject("delta"u8);
            json.WriteString("stop_reason"u8, StopReason(_finish, _sentCalls.Count > 0));
            json.WriteNull("stop_sequence"u8);
            json.WriteEndObject();
            WriteUsage(json, _usage ?? new Usage(0, 0));
            End(json, events);
            End(Event(events, "message_stop"u8), events);
        }

        public void Fail(OpenAiException error, SseEvents events)
        {
            AnthropicShape.WriteError(events.Begin("error"u8), error);
            events.End();
        }

        /// <summary><c>message_start</c> (an empty message) and a <c>ping</c>, once, before anything else.</summary>
        private void Start(SseEvents events)
        {
            if (_started)
            {
                return;
            }

            _started = true;
            var json = Event(events, "message_start"u8);
            json.WritePropertyName("message"u8);
            WriteMessageStart(json, identity);
            json.WriteStartArray("content"u8);
            json.WriteEndArray();
            json.WriteNull("stop_reason"u8);
            json.WriteNull("stop_sequence"u8);
            WriteUsage(json, new Usage(0, 0));
            json.WriteEndObject();
            End(json, events);
            End(Event(events, "ping"u8), events);
        }

        private void AddToolPiece(SseEvents events, ToolUse use)
        {
            if (_open == Block.ToolUse && _openCall == use.Index)
            {
                JsonDelta(events, use.Function.Arguments);
                return;
            }

            if (_open == Block.ToolUse || _sentCalls.Contains(use.Index) || _held.ContainsKey(use.Index))
            {
                // Another call's block is open (or this call's was closed): hold the piece for a block of its own.
                if (!_held.TryGetValue(use.Index, out var held))
                {
                    _held[use.Index] = held = new PendingCall(use.Id ?? NewCallId(), use.Function.Name ?? "");
                }

                held.Arguments.Append(use.Function.Arguments);
                return;
            }

            Close(events);
            StartToolUse(events, use.Index, use.Id ?? NewCallId(), use.Function.Name ?? "");
            if (use.Function.Arguments.Length > 0)
            {
                JsonDelta(events, use.Function.Arguments);
            }
        }

        private void StartToolUse(SseEvents events, int call, string id, string name)
        {
            _sentCalls.Add(call);
            _open = Block.ToolUse;
            _openCall = call;
            var json = Event(events, "content_block_start"u8);
            json.WriteNumber("index"u8, _blocks);
            json.WriteStartObject("content_block"u8);
            json.WriteString("type"u8, "tool_use"u8);
            json.WriteString("id"u8, id);
            json.WriteString("name"u8, name);
            json.WriteStartObject("input"u8);
            json.WriteEndObject();
            json.WriteEndObject();
            End(json, events);
        }

        private void JsonDelta(SseEvents events, string partialJson)
        {
            var json = Delta(events);
            json.WriteString("type"u8, "input_json_delta"u8);
            json.WriteString("partial_json"u8, partialJson);
            EndDelta(json, events);
        }

        /// <summary>Opens a text or thinking block unless one of that kind is open, closing whatever was.</summary>
        private void Open(SseEvents events, Block kind)
        {
            if (_open == kind)
            {
                return;
            }

            Close(events);
            _open = kind;
            var json = Event(events, "content_block_start"u8);
            json.WriteNumber("index"u8, _blocks);
            json.WriteStartObject("content_block"u8);
            if (kind == Block.Thinking)
            {
                json.WriteString("type"u8, "thinking"u8);
                json.WriteString("thinking"u8, ""u8);
                json.WriteString("signature"u8, ""u8);
            }
            else
            {
                json.WriteString("type"u8, "text"u8);
                json.WriteString("text"u8, ""u8);
            }

            json.WriteEndObject();
            End(json, events);
        }

        private void Close(SseEvents events)
        {
            if (_open == Block.None)
            {
                return;
            }

            var json = Event(events, "content_block_stop"u8);
            json.WriteNumber("index"u8, _blocks);
            End(json, events);
            _open = Block.None;
            _openCall = -1;
            _blocks++;
        }

        private Utf8JsonWriter Delta(SseEvents events)
        {
            var json = Event(events, "content_block_delta"u8);
            json.WriteNumber("index"u8, _blocks);
            json.WriteStartObject("delta"u8);
            return json;
        }

        private static void EndDelta(Utf8JsonWriter json, SseEvents events)
        {
            json.WriteEndObject();
            End(json, events);
        }

        private static Utf8JsonWriter Event(SseEvents events, ReadOnlySpan<byte> name)
        {
            var json = events.Begin(name);
            json.WriteStartObject();
            json.WriteString("type"u8, name);
            return json;
        }

        private static void End(Utf8JsonWriter json, SseEvents events)
        {
            json.WriteEndObject();
            events.End();
        }

        private static string NewCallId() => $"toolu_{Guid.NewGuid():N}"[..30];

        private sealed class PendingCall(string id, string name)
        {
            public string Id => id;

            public string Name => name;

            public StringBuilder Arguments { get; } = new();
        }
    }
}
