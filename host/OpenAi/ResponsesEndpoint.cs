using System.Text;
using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// <c>POST /responses</c>: OpenAI's Responses API on the handler's chat methods. The request becomes a chat request
/// (<see cref="ResponsesRequestReader"/>), the handler's first choice becomes the <c>response</c> object's output
/// items, or, with <c>stream: true</c>, its typed events (<c>response.created</c> … <c>response.completed</c>).
/// Answers are kept for <c>previous_response_id</c> and <c>GET /responses/{id}</c> unless <c>store: false</c>.
/// </summary>
internal sealed class ResponsesEndpoint : IHandlerEndpoint<ResponsesRequest, ModelResponse>
{
    public static HandlerCapabilities Capability => HandlerCapabilities.ChatCompletions;

    public static string Operation => "chat";

    public static ResponsesRequest Read(JsonElement root, RequestTarget target, RequestLimits limits) => ResponsesRequestReader.Read(root, target);

    public static Usage? UsageOf(ModelResponse response) => response.Usage;

    public static Task<ModelResponse> InvokeAsync(CustomLlm handler, ResponsesRequest request, CancellationToken cancellationToken) =>
        handler.CompletionAsync(request.ForHandler(), cancellationToken);

    public static void Write(Utf8JsonWriter writer, ResponsesRequest request, ModelResponse response)
    {
        var answer = ResponsesAnswer.From(response, request.Identity);
        ResponsesWriter.WriteResponse(writer, request.Identity, request.Echo, answer.Status, answer.Output, answer.Usage, answer.IncompleteReason);
        Keep(request, answer);
    }

    public static bool Streams(ResponsesRequest request) => request.Chat.Stream;

    public static HandlerStream Stream(CustomLlm handler, ResponsesRequest request, CancellationToken cancellationToken) => new(
        handler.StreamingAsync(request.ForHandler(), cancellationToken),
        new ResponsesStreamFormat(request),
        IncludeUsage: false);

    /// <summary><c>GET /responses/{id}</c>: a kept answer, or OpenAI's 404.</summary>
    public static async Task GetAsync(HttpContext context, string id)
    {
        var stored = context.RequestServices.GetRequiredService<ResponseStore>().Find(id)
            ?? throw new OpenAiException(404, $"Response with id '{id}' not found.", code: "not_found");
        var buffer = JsonBuffer.Rent();
        try
        {
            var answer = stored.Answer;
            ResponsesWriter.WriteResponse(buffer.Writer, stored.Identity, stored.Echo, answer.Status, answer.Output, answer.Usage, answer.IncompleteReason);
            buffer.Writer.Flush();
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = buffer.Written.Length;
            await context.Response.Body.WriteAsync(buffer.Written.ToArray(), context.RequestAborted);
        }
        finally
        {
            JsonBuffer.Return(buffer);
        }
    }

    /// <summary>Keeps a complete answer with the conversation it ends, unless the client said <c>store: false</c>.</summary>
    private static void Keep(ResponsesRequest request, ResponsesAnswer answer) =>
        request.Store?.Add(new StoredResponse(request.Identity, request.Echo, answer, [.. request.Conversation, answer.ToMessage()]));

    /// <summary>
    /// The Responses API's stream: <c>response.created</c> and <c>response.in_progress</c>, then each output item
    /// as it appears (<c>output_item.added</c>, its part, its deltas), all closed in order at the end (<c>…done</c>)
    /// before <c>response.completed</c>; a handler error after the first event is <c>response.failed</c>. Every
    /// event is named and numbered (<c>sequence_number</c>); there is no <c>[DONE]</c>. Only the first choice is shown.
    /// </summary>
    private sealed class ResponsesStreamFormat(ResponsesRequest request) : IStreamFormat
    {
        private readonly List<ItemState> _items = [];
        private readonly Dictionary<int, int> _calls = [];
        private int _sequence;
        private int _message = -1;
        private int _reasoning = -1;
        private bool _started;
        private Usage? _usage;
        private FinishReason? _finish;

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
                var index = _reasoning >= 0 ? _reasoning : _reasoning = Open(events, OutputKind.Reasoning, "rs_", null, null);
                _items[index].Text.Append(reasoning);
                var json = Event(events, "response.reasoning_summary_text.delta"u8);
                WriteItemRef(json, index);
                json.WriteNumber("summary_index"u8, 0);
                json.WriteString("delta"u8, reasoning);
                End(json, events);
            }

            if (chunk.Text.Length > 0)
            {
                var index = _message >= 0 ? _message : _message = Open(events, OutputKind.Message, "msg_", null, null);
                _items[index].Text.Append(chunk.Text);
                var json = Event(events, "response.output_text.delta"u8);
                WriteItemRef(json, index);
                json.WriteNumber("content_index"u8, 0);
                json.WriteString("delta"u8, chunk.Text);
                json.WriteStartArray("logprobs"u8);
                json.WriteEndArray();
                End(json, events);
            }

            if (chunk.ToolUse is { } use)
            {
                if (!_calls.TryGetValue(use.Index, out var index))
                {
                    var callId = use.Id ?? $"call_{Guid.NewGuid():N}"[..29];
                    _calls[use.Index] = index = Open(events, OutputKind.FunctionCall, "fc_", callId, use.Function.Name ?? "");
                }

                if (use.Function.Arguments.Length > 0)
                {
                    _items[index].Text.Append(use.Function.Arguments);
                    var json = Event(events, "response.function_call_arguments.delta"u8);
                    WriteItemRef(json, index);
                    json.WriteString("delta"u8, use.Function.Arguments);
                    End(json, events);
                }
            }
        }

        public void Complete(bool includeUsage, SseEvents events)
        {
            Start(events);
            if (_items.Count == 0)
            {
                _message = Open(events, OutputKind.Message, "msg_", null, null);
            }

            var output = new List<OutputItem>(_items.Count);
            for (var index = 0; index < _items.Count; index++)
            {
                var item = _items[index].Done();
                output.Add(item);
                Close(events, index, item);
            }

            var answer = new ResponsesAnswer(output, _usage, _finish ?? (_calls.Count > 0 ? FinishReason.ToolCalls : FinishReason.Stop));
            var json = Event(events, answer.Status == "completed" ? "response.completed"u8 : "response.incomplete"u8);
            json.WritePropertyName("response"u8);
            ResponsesWriter.WriteResponse(json, request.Identity, request.Echo, answer.Status, answer.Output, answer.Usage, answer.IncompleteReason);
            End(json, events);
            Keep(request, answer);
        }

        public void Fail(OpenAiException error, SseEvents events)
        {
            Start(events);
            var json = Event(events, "response.failed"u8);
            json.WritePropertyName("response"u8);
            ResponsesWriter.WriteResponse(json, request.Identity, request.Echo, "failed", [], _usage, error: error);
            End(json, events);
        }

        /// <summary><c>response.created</c> and <c>response.in_progress</c>, once, before anything else.</summary>
        private void Start(SseEvents events)
        {
            if (_started)
            {
                return;
            }

            _started = true;
            foreach (var name in (ReadOnlySpan<string>)["response.created", "response.in_progress"])
            {
                var json = Event(events, Encoding.UTF8.GetBytes(name));
                json.WritePropertyName("response"u8);
                ResponsesWriter.WriteResponse(json, request.Identity, request.Echo, "in_progress", [], null);
                End(json, events);
            }
        }

        /// <summary>Adds an output item (and its first part, for those that have parts); returns its output index.</summary>
        private int Open(SseEvents events, OutputKind kind, string prefix, string? callId, string? name)
        {
            var index = _items.Count;
            var state = new ItemState(kind, ResponsesAnswer.ItemId(prefix, request.Identity, index), callId, name);
            _items.Add(state);
            var json = Event(events, "response.output_item.added"u8);
            json.WriteNumber("output_index"u8, index);
            json.WritePropertyName("item"u8);
            ResponsesWriter.WriteItem(json, state.Done(), "in_progress");
            End(json, events);
            if (kind == OutputKind.Message)
            {
                json = Event(events, "response.content_part.added"u8);
                WriteItemRef(json, index);
                json.WriteNumber("content_index"u8, 0);
                json.WritePropertyName("part"u8);
                ResponsesWriter.WriteTextPart(json, "");
                End(json, events);
            }
            else if (kind == OutputKind.Reasoning)
            {
                json = Event(events, "response.reasoning_summary_part.added"u8);
                WriteItemRef(json, index);
                json.WriteNumber("summary_index"u8, 0);
                json.WritePropertyName("part"u8);
                ResponsesWriter.WriteSummaryPart(json, "");
                End(json, events);
            }

            return index;
        }

        /// <summary>The events that close an item: its text's, its part's, then <c>output_item.done</c>.</summary>
        private void Close(SseEvents events, int index, OutputItem item)
        {
            Utf8JsonWriter json;
            switch (item.Kind)
            {
                case OutputKind.Message:
                    json = Event(events, "response.output_text.done"u8);
                    WriteItemRef(json, index);
                    json.WriteNumber("content_index"u8, 0);
                    json.WriteString("text"u8, item.Text);
                    json.WriteStartArray("logprobs"u8);
                    json.WriteEndArray();
                    End(json, events);
                    json = Event(events, "response.content_part.done"u8);
                    WriteItemRef(json, index);
                    json.WriteNumber("content_index"u8, 0);
                    json.WritePropertyName("part"u8);
                    ResponsesWriter.WriteTextPart(json, item.Text);
                    End(json, events);
                    break;
                case OutputKind.Reasoning:
                    json = Event(events, "response.reasoning_summary_text.done"u8);
                    WriteItemRef(json, index);
                    json.WriteNumber("summary_index"u8, 0);
                    json.WriteString("text"u8, item.Text);
                    End(json, events);
                    json = Event(events, "response.reasoning_summary_part.done"u8);
                    WriteItemRef(json, index);
                    json.WriteNumber("summary_index"u8, 0);
                    json.WritePropertyName("part"u8);
                    ResponsesWriter.WriteSummaryPart(json, item.Text);
                    End(json, events);
                    break;
                case OutputKind.FunctionCall:
                    json = Event(events, "response.function_call_arguments.done"u8);
                    WriteItemRef(json, index);
                    json.WriteString("name"u8, item.Name);
                    json.WriteString("arguments"u8, item.Text);
                    End(json, events);
                    break;
            }

            json = Event(events, "response.output_item.done"u8);
            json.WriteNumber("output_index"u8, index);
            json.WritePropertyName("item"u8);
            ResponsesWriter.WriteItem(json, item, "completed");
            End(json, events);
        }

        /// <summary>Starts an event object: its name as <c>type</c> and its <c>sequence_number</c>.</summary>
        private Utf8JsonWriter Event(SseEvents events, ReadOnlySpan<byte> name)
        {
            var json = events.Begin(name);
            json.WriteStartObject();
            json.WriteString("type"u8, name);
            json.WriteNumber("sequence_number"u8, _sequence++);
            return json;
        }

        private static void End(Utf8JsonWriter json, SseEvents events)
        {
            json.WriteEndObject();
            events.End();
        }

        private void WriteItemRef(Utf8JsonWriter json, int index)
        {
            json.WriteString("item_id"u8, _items[index].Id);
            json.WriteNumber("output_index"u8, index);
        }

        private sealed class ItemState(OutputKind kind, string id, string? callId, string? name)
        {
            public string Id => id;

            public StringBuilder Text { get; } = new();

            public OutputItem Done() => new(kind, id, Text.ToString(), callId, name);
        }
    }
}
