using System.Buffers;
using System.Text.Json;
using PluginHost.Sdk;

namespace OpenAiForwarder;

/// <summary>The OpenAI wire format, both ways, for the SDK's records.</summary>
internal static class OpenAiWire
{
    // One buffer and writer per thread to build request bodies in; each body leaves as an array of exactly its size.
    [ThreadStatic]
    private static (ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Writer)? _scratch;

    /// <summary>The request's JSON body for the upstream: <paramref name="request"/>'s fields with its provider model.</summary>
    public static byte[] WriteRequest(ChatCompletionRequest request, bool stream)
    {
        var (buffer, w) = _scratch ??= (new ArrayBufferWriter<byte>(1024), new Utf8JsonWriter(Stream.Null));
        buffer.ResetWrittenCount();
        w.Reset(buffer);
        try
        {
            w.WriteStartObject();
            w.WriteString("model", request.Model);
            w.WriteStartArray("messages");
            foreach (var message in request.Messages)
            {
                WriteMessage(w, message);
            }

            w.WriteEndArray();
            w.WriteBoolean("stream", stream);
            if (stream)
            {
                w.WriteStartObject("stream_options");
                w.WriteBoolean("include_usage", true);
                w.WriteEndObject();
            }

            Number(w, "temperature", request.Temperature);
            Number(w, "top_p", request.TopP);
            Number(w, "presence_penalty", request.PresencePenalty);
            Number(w, "frequency_penalty", request.FrequencyPenalty);
            Number(w, "max_tokens", request.MaxTokens);
            Number(w, "max_completion_tokens", request.MaxCompletionTokens);
            Number(w, "n", request.N);
            Number(w, "seed", request.Seed);
            if (request.User is not null)
            {
                w.WriteString("user", request.User);
            }

            if (request.ParallelToolCalls is { } parallel)
            {
                w.WriteBoolean("parallel_tool_calls", parallel);
            }

            if (request.Stop is { } stop)
            {
                w.WriteStartArray("stop");
                foreach (var s in stop)
                {
                    w.WriteStringValue(s);
                }

                w.WriteEndArray();
            }

            if (request.Tools is { } tools)
            {
                w.WriteStartArray("tools");
                foreach (var tool in tools)
                {
                    w.WriteStartObject();
                    w.WriteString("type", tool.Type);
                    w.WriteStartObject("function");
                    w.WriteString("name", tool.Function.Name);
                    if (tool.Function.Description is not null)
                    {
                        w.WriteString("description", tool.Function.Description);
                    }

                    if (tool.Function.Parameters is { } parameters)
                    {
                        w.WritePropertyName("parameters");
                        parameters.WriteTo(w);
                    }

                    if (tool.Function.Strict is { } strict)
                    {
                        w.WriteBoolean("strict", strict);
                    }

                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            if (request.ToolChoice is { } toolChoice)
            {
                w.WritePropertyName("tool_choice");
                toolChoice.WriteTo(w);
            }

            if (request.ResponseFormat is { } format)
            {
                w.WriteStartObject("response_format");
                w.WriteString("type", format.Type);
                if (format.JsonSchema is { } schema)
                {
                    w.WritePropertyName("json_schema");
                    schema.WriteTo(w);
                }

                w.WriteEndObject();
            }

            foreach (var (name, value) in request.AdditionalProperties)
            {
                w.WritePropertyName(name);
                value.WriteTo(w);
            }

            w.WriteEndObject();
            w.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        catch
        {
            // A writer left mid-object (a throwing JsonElement) is not reused.
            _scratch = null;
            throw;
        }
        finally
        {
            if (buffer.Capacity > 64 * 1024)
            {
                _scratch = null;
            }
        }
    }

    private static void WriteMessage(Utf8JsonWriter w, ChatMessage message)
    {
        w.WriteStartObject();
        w.WriteString("role", message.Role.Value);
        if (message.ContentParts is { } parts)
        {
            w.WriteStartArray("content");
            foreach (var part in parts)
            {
                part.Raw.WriteTo(w);
            }

            w.WriteEndArray();
        }
        else
        {
            w.WriteString("content", message.Content);
        }

        if (message.Name is not null)
        {
            w.WriteString("name", message.Name);
        }

        if (message.ToolCallId is not null)
        {
            w.WriteString("tool_call_id", message.ToolCallId);
        }

        if (message.ToolCalls is { } calls)
        {
            w.WriteStartArray("tool_calls");
            foreach (var call in calls)
            {
                w.WriteStartObject();
                w.WriteString("id", call.Id);
                w.WriteString("type", call.Type);
                w.WriteStartObject("function");
                w.WriteString("name", call.Function.Name);
                w.WriteString("arguments", call.Function.Arguments);
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        foreach (var (name, value) in message.AdditionalProperties)
        {
            w.WritePropertyName(name);
            value.WriteTo(w);
        }

        w.WriteEndObject();
    }

    public static ModelResponse ReadCompletion(JsonElement root)
    {
        var choices = new List<Choice>();
        if (root.TryGetProperty("choices", out var array) && array.ValueKind == JsonValueKind.Array)
        {
            foreach (var choice in array.EnumerateArray())
            {
                var message = choice.GetProperty("message");
                choices.Add(new Choice
                {
                    Index = Int(choice, "index"),
                    FinishReason = String(choice, "finish_reason") is { } reason ? new FinishReason(reason) : null,
                    Message = new ResponseMessage
                    {
                        Content = String(message, "content"),
                        ReasoningContent = String(message, "reasoning_content"),
                        ToolCalls = ReadToolCalls(message),
                    },
                });
            }
        }

        return new ModelResponse { Choices = choices, Usage = ReadUsage(root), SystemFingerprint = String(root, "system_fingerprint") };
    }

    public static IEnumerable<GenericStreamingChunk> ReadChunk(JsonElement root)
    {
        var usage = ReadUsage(root);
        var any = false;
        if (root.TryGetProperty("choices", out var array) && array.ValueKind == JsonValueKind.Array)
        {
            foreach (var choice in array.EnumerateArray())
            {
                any = true;
                var index = Int(choice, "index");
                var finish = String(choice, "finish_reason");
                var delta = choice.TryGetProperty("delta", out var d) && d.ValueKind == JsonValueKind.Object ? d : default;
                var text = delta.ValueKind == JsonValueKind.Object ? String(delta, "content") ?? "" : "";
                var reasoning = delta.ValueKind == JsonValueKind.Object ? String(delta, "reasoning_content") : null;
                if (delta.ValueKind == JsonValueKind.Object && delta.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
                {
                    foreach (var call in calls.EnumerateArray())
                    {
                        var function = call.TryGetProperty("function", out var f) ? f : default;
                        yield return new GenericStreamingChunk
                        {
                            Index = index,
                            ToolUse = new ToolUse
                            {
                                Index = Int(call, "index"),
                                Id = String(call, "id"),
                                Function = new ToolUseFunction(
                                    function.ValueKind == JsonValueKind.Object ? String(function, "name") : null,
                                    function.ValueKind == JsonValueKind.Object ? String(function, "arguments") ?? "" : ""),
                            },
                        };
                    }
                }

                yield return new GenericStreamingChunk
                {
                    Index = index,
                    Text = text,
                    ReasoningContent = reasoning,
                    IsFinished = finish is not null,
                    FinishReason = finish is null ? null : new FinishReason(finish),
                    Usage = usage,
                };
            }
        }

        if (!any && usage is not null)
        {
            yield return new GenericStreamingChunk { Usage = usage };
        }
    }

    public static string ErrorMessage(JsonElement error) =>
        error.ValueKind == JsonValueKind.Object && String(error, "message") is { } message ? message : error.ToString();

    private static List<ToolCall>? ReadToolCalls(JsonElement message)
    {
        if (!message.TryGetProperty("tool_calls", out var calls) || calls.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var result = new List<ToolCall>();
        foreach (var call in calls.EnumerateArray())
        {
            var function = call.GetProperty("function");
            result.Add(new ToolCall
            {
                Id = String(call, "id") ?? "",
                Type = String(call, "type") ?? "function",
                Function = new FunctionCall(String(function, "name") ?? "", String(function, "arguments") ?? ""),
            });
        }

        return result;
    }

    private static Usage? ReadUsage(JsonElement root) =>
        root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object
            ? new Usage(Int(usage, "prompt_tokens"), Int(usage, "completion_tokens"))
            : null;

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static int Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) ? n : 0;

    private static void Number(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }

    private static void Number(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }
}
