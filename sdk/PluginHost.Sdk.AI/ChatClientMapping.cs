using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Mea = Microsoft.Extensions.AI;

namespace PluginHost.Sdk.AI;

/// <summary>
/// Maps between the proxy's OpenAI-shaped records and <c>Microsoft.Extensions.AI</c>: requests to
/// <see cref="Mea.ChatMessage"/>s and <see cref="ChatOptions"/>, and <see cref="ChatResponse"/>s and
/// <see cref="ChatResponseUpdate"/>s back to completions and chunks. <see cref="ChatClientLlm"/> uses it; it is
/// public for handlers that call an <see cref="IChatClient"/> their own way.
/// </summary>
/// <remarks>
/// Everything is written and read with <see cref="Utf8JsonWriter"/> and <see cref="JsonDocument"/>, never the
/// reflection serializer, so no serializer cache outside the plugin holds on to the plugin's types.
/// </remarks>
public static class ChatClientMapping
{
    private static readonly JsonElement EmptyObjectSchema = JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement.Clone();

    /// <summary>
    /// The conversation as <see cref="Mea.ChatMessage"/>s: text and content parts (<c>image_url</c> and
    /// <c>input_audio</c> as <see cref="DataContent"/> or <see cref="UriContent"/>, other parts kept as their raw
    /// JSON), <c>reasoning_content</c> as <see cref="TextReasoningContent"/>, assistant <c>tool_calls</c> as
    /// <see cref="FunctionCallContent"/> and tool messages as <see cref="FunctionResultContent"/>.
    /// </summary>
    public static List<Mea.ChatMessage> ToChatMessages(IReadOnlyList<ChatMessage> messages)
    {
        var result = new List<Mea.ChatMessage>(messages.Count);
        foreach (var message in messages)
        {
            var contents = new List<AIContent>();
            if (message.ReasoningContent is { } reasoning)
            {
                contents.Add(new TextReasoningContent(reasoning));
            }

            if (message.Role == ChatRole.Tool && message.ToolCallId is { } callId)
            {
                contents.Add(new FunctionResultContent(callId, message.Content));
            }
            else if (message.ContentParts is { } parts)
            {
                contents.AddRange(parts.Select(ToContent));
            }
            else if (message.Content is { } text)
            {
                contents.Add(new TextContent(text));
            }

            foreach (var call in message.ToolCalls ?? [])
            {
                contents.Add(FunctionCallContent.CreateFromParsedArguments(call.Function.Arguments, call.Id, call.Function.Name, ParseArguments));
            }

            var converted = new Mea.ChatMessage(new Mea.ChatRole(message.Role.Value), contents) { AuthorName = message.Name };
            foreach (var (name, value) in message.AdditionalProperties)
            {
                (converted.AdditionalProperties ??= [])[name] = value;
            }

            result.Add(converted);
        }

        return result;
    }

    /// <summary>
    /// The request's parameters as <see cref="ChatOptions"/>: model, sampling, limits, stop sequences, tools
    /// (as <see cref="AIFunctionDeclaration"/>s with their JSON schema), tool choice, response format; <c>user</c>,
    /// <c>n</c> and every untyped request field travel in <see cref="ChatOptions.AdditionalProperties"/>.
    /// </summary>
    public static ChatOptions ToChatOptions(ChatCompletionRequest request)
    {
        var options = new ChatOptions
        {
            ModelId = request.Model,
            Temperature = (float?)request.Temperature,
            TopP = (float?)request.TopP,
            MaxOutputTokens = request.MaxCompletionTokens ?? request.MaxTokens,
            PresencePenalty = (float?)request.PresencePenalty,
            FrequencyPenalty = (float?)request.FrequencyPenalty,
            Seed = request.Seed,
            StopSequences = request.Stop is { } stop ? [.. stop] : null,
            AllowMultipleToolCalls = request.ParallelToolCalls,
            ToolMode = ToToolMode(request.ToolChoice),
            ResponseFormat = request.ResponseFormat switch
            {
                null => null,
                { Type: "json_object" } => ChatResponseFormat.Json,
                { Type: "json_schema", JsonSchema: { } schema } => ToJsonSchemaFormat(schema),
                _ => ChatResponseFormat.Text,
            },
        };

        if (request.Tools is { Count: > 0 } tools)
        {
            options.Tools = [.. tools.Select(t => AIFunctionFactory.CreateDeclaration(t.Function.Name, t.Function.Description, t.Function.Parameters ?? EmptyObjectSchema))];
        }

        if (request.User is { } user)
        {
            (options.AdditionalProperties ??= [])["user"] = user;
        }

        if (request.N is { } n)
        {
            (options.AdditionalProperties ??= [])["n"] = n;
        }

        foreach (var (name, value) in request.AdditionalProperties)
        {
            (options.AdditionalProperties ??= [])[name] = value;
        }

        return options;
    }

    /// <summary>
    /// A whole <see cref="ChatResponse"/> as one choice: its text, reasoning, function calls (as
    /// <c>tool_calls</c>; calls the client already answered itself, with a <see cref="FunctionResultContent"/>
    /// in the response, are left out), finish reason and usage. Its additional properties become
    /// <c>provider_specific_fields</c>.
    /// </summary>
    public static ModelResponse ToModelResponse(ChatResponse response)
    {
        StringBuilder? text = null, reasoning = null;
        var answered = response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Select(r => r.CallId).ToHashSet(StringComparer.Ordinal);
        List<ToolCall>? toolCalls = null;
        foreach (var content in response.Messages.SelectMany(m => m.Contents))
        {
            switch (content)
            {
                case TextContent t:
                    (text ??= new StringBuilder()).Append(t.Text);
                    break;
                case TextReasoningContent r:
                    (reasoning ??= new StringBuilder()).Append(r.Text);
                    break;
                case FunctionCallContent call when !call.InformationalOnly && !answered.Contains(call.CallId):
                    (toolCalls ??= []).Add(new ToolCall { Id = call.CallId, Function = new FunctionCall(call.Name, ToJson(call.Arguments)) });
                    break;
            }
        }

        return new ModelResponse
        {
            Id = response.ResponseId,
            Created = response.CreatedAt,
            Choices =
            [
                new Choice
                {
                    Message = new ResponseMessage
                    {
                        Content = text?.ToString() ?? (toolCalls is null ? "" : null),
                        ReasoningContent = reasoning?.ToString(),
                        ToolCalls = toolCalls,
                        ProviderSpecificFields = ToJsonFields(response.AdditionalProperties),
                    },
                    FinishReason = response.FinishReason is { } finish ? new FinishReason(finish.Value) : null,
                },
            ],
            Usage = response.Usage is { } usage ? ToUsage(usage) : null,
        };
    }

    /// <summary>Token counts as the proxy's <see cref="Usage"/> (total: the client's, or input plus output).</summary>
    public static Usage ToUsage(UsageDetails usage)
    {
        var input = (int)(usage.InputTokenCount ?? 0);
        var output = (int)(usage.OutputTokenCount ?? 0);
        return new Usage(input, output) { TotalTokens = (int)(usage.TotalTokenCount ?? (input + output)) };
    }

    /// <summary>
    /// Turns a stream of <see cref="ChatResponseUpdate"/>s into chunks: one per update for its text and
    /// reasoning, one per function call (each with the next tool call index and its whole arguments), and a
    /// last chunk from <see cref="Finish"/> with the finish reason and the summed usage.
    /// </summary>
    public sealed class StreamState
    {
        private int _toolCalls;
        private Mea.ChatFinishReason? _finishReason;
        private UsageDetails? _usage;

        /// <summary>The chunks for one update.</summary>
        public IEnumerable<GenericStreamingChunk> ToChunks(ChatResponseUpdate update)
        {
            ArgumentNullException.ThrowIfNull(update);
            _finishReason = update.FinishReason ?? _finishReason;
            StringBuilder? text = null, reasoning = null;
            List<GenericStreamingChunk>? calls = null;
            foreach (var content in update.Contents)
            {
                switch (content)
                {
                    case TextContent t:
                        (text ??= new StringBuilder()).Append(t.Text);
                        break;
                    case TextReasoningContent r:
                        (reasoning ??= new StringBuilder()).Append(r.Text);
                        break;
                    case UsageContent u:
                        (_usage ??= new UsageDetails()).Add(u.Details);
                        break;
                    case FunctionCallContent call when !call.InformationalOnly:
                        (calls ??= []).Add(new GenericStreamingChunk
                        {
                            ToolUse = new ToolUse { Index = _toolCalls++, Id = call.CallId, Function = new ToolUseFunction(call.Name, ToJson(call.Arguments)) },
                        });
                        break;
                }
            }

            var fields = ToJsonFields(update.AdditionalProperties);
            if (text is not null || reasoning is not null || fields is not null)
            {
                yield return new GenericStreamingChunk { Text = text?.ToString() ?? "", ReasoningContent = reasoning?.ToString(), ProviderSpecificFields = fields };
            }

            foreach (var call in calls ?? [])
            {
                yield return call;
            }
        }

        /// <summary>The last chunk: the stream's finish reason (<c>tool_calls</c> after function calls, <c>stop</c> otherwise) and usage.</summary>
        public GenericStreamingChunk Finish() => GenericStreamingChunk.Finished(
            _finishReason is { } finish ? new FinishReason(finish.Value) : _toolCalls > 0 ? FinishReason.ToolCalls : FinishReason.Stop,
            _usage is { } usage ? ToUsage(usage) : null);
    }

    private static AIContent ToContent(ContentPart part)
    {
        switch (part.Type)
        {
            case "text":
                return new TextContent(part.Text);
            case "image_url" when Url(part.Raw) is { } url:
                return url.StartsWith("data:", StringComparison.OrdinalIgnoreCase) ? new DataContent(url) : new UriContent(url, "image/*");
            case "input_audio" when part.Raw.TryGetProperty("input_audio", out var audio)
                && audio.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.String:
                var format = audio.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : "wav";
                return new DataContent(Convert.FromBase64String(data.GetString()!), $"audio/{format}") { RawRepresentation = part.Raw };
            default:
                return new AIContent { RawRepresentation = part.Raw };
        }

        static string? Url(JsonElement raw) =>
            raw.TryGetProperty("image_url", out var image) ? image.ValueKind switch
            {
                JsonValueKind.String => image.GetString(),
                JsonValueKind.Object when image.TryGetProperty("url", out var url) && url.ValueKind == JsonValueKind.String => url.GetString(),
                _ => null,
            } : null;
    }

    private static ChatToolMode? ToToolMode(JsonElement? choice) => choice switch
    {
        { ValueKind: JsonValueKind.String } s when s.ValueEquals("none") => ChatToolMode.None,
        { ValueKind: JsonValueKind.String } s when s.ValueEquals("required") => ChatToolMode.RequireAny,
        { ValueKind: JsonValueKind.String } => ChatToolMode.Auto,
        { ValueKind: JsonValueKind.Object } o when o.TryGetProperty("function", out var function)
            && function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String => ChatToolMode.RequireSpecific(name.GetString()!),
        _ => null,
    };

    private static ChatResponseFormat ToJsonSchemaFormat(JsonElement jsonSchema)
    {
        var schema = jsonSchema.TryGetProperty("schema", out var s) ? s : EmptyObjectSchema;
        var name = jsonSchema.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        var description = jsonSchema.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        return ChatResponseFormat.ForJsonSchema(schema, name, description);
    }

    private static Dictionary<string, object?>? ParseArguments(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return [];
        }

        using var document = JsonDocument.Parse(json);
        return document.RootElement.ValueKind == JsonValueKind.Object
            ? document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone(), StringComparer.Ordinal)
            : throw new JsonException("Tool call arguments must be a JSON object.");
    }

    /// <summary>Function arguments as the JSON text OpenAI carries.</summary>
    private static string ToJson(IDictionary<string, object?>? arguments)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in arguments ?? new Dictionary<string, object?>())
            {
                writer.WritePropertyName(name);
                WriteValue(writer, value);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static Dictionary<string, JsonElement>? ToJsonFields(AdditionalPropertiesDictionary? properties)
    {
        if (properties is not { Count: > 0 })
        {
            return null;
        }

        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (name, value) in properties)
        {
            var buffer = new ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                WriteValue(writer, value);
            }

            using var document = JsonDocument.Parse(buffer.WrittenMemory);
            fields[name] = document.RootElement.Clone();
        }

        return fields;
    }

    /// <summary>Writes the values function arguments and properties hold: JSON, text, numbers, booleans, lists and maps of them.</summary>
    private static void WriteValue(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case JsonElement element:
                element.WriteTo(writer);
                break;
            case JsonDocument document:
                document.RootElement.WriteTo(writer);
                break;
            case string text:
                writer.WriteStringValue(text);
                break;
            case bool flag:
                writer.WriteBooleanValue(flag);
                break;
            case int or long or short or byte or uint or ulong or ushort or sbyte:
                writer.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case float or double or decimal:
                writer.WriteNumberValue(Convert.ToDouble(value, CultureInfo.InvariantCulture));
                break;
            case System.Collections.IDictionary map:
                writer.WriteStartObject();
                foreach (System.Collections.DictionaryEntry entry in map)
                {
                    writer.WritePropertyName(Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? "");
                    WriteValue(writer, entry.Value);
                }

                writer.WriteEndObject();
                break;
            case System.Collections.IEnumerable items:
                writer.WriteStartArray();
                foreach (var item in items)
                {
                    WriteValue(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                writer.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }
}
