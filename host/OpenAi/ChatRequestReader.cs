using System.Text.Json;
using PluginHost.Sdk;
using static PluginHost.OpenAi.RequestFields;

namespace PluginHost.OpenAi;

/// <summary>
/// Turns a chat completion request body into the SDK's <see cref="ChatCompletionRequest"/>, rejecting what
/// OpenAI would reject with a 400 that names the parameter. Fields the contract does not type are kept.
/// </summary>
internal static class ChatRequestReader
{
    /// <summary>Reads the whole request for the deployment that serves it.</summary>
    public static ChatCompletionRequest Read(JsonElement root, RequestTarget target)
    {
        IReadOnlyList<ChatMessage>? messages = null;
        double? temperature = null, topP = null, presencePenalty = null, frequencyPenalty = null;
        int? maxTokens = null, maxCompletionTokens = null, n = null;
        IReadOnlyList<string>? stop = null;
        IReadOnlyList<ChatTool>? tools = null;
        JsonElement? toolChoice = null;
        bool? parallelToolCalls = null;
        ResponseFormat? responseFormat = null;
        long? seed = null;
        string? user = null;
        StreamOptions? streamOptions = null;
        var stream = false;
        var extra = new ExtraFields();
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model":
                    break;
                case "messages":
                    messages = ReadMessages(value);
                    break;
                case "stream":
                    stream = Boolean(value, "stream") == true;
                    break;
                case "temperature":
                    temperature = Number(value, "temperature", 0, 2);
                    break;
                case "top_p":
                    topP = Number(value, "top_p", 0, 1);
                    break;
                case "presence_penalty":
                    presencePenalty = Number(value, "presence_penalty", -2, 2);
                    break;
                case "frequency_penalty":
                    frequencyPenalty = Number(value, "frequency_penalty", -2, 2);
                    break;
                case "max_tokens":
                    maxTokens = Integer(value, "max_tokens", 1);
                    break;
                case "max_completion_tokens":
                    maxCompletionTokens = Integer(value, "max_completion_tokens", 1);
                    break;
                case "n":
                    n = Integer(value, "n", 1, 128);
                    break;
                case "seed":
                    seed = value.ValueKind == JsonValueKind.Null ? null : value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var s) ? s : throw InvalidType("seed", "an integer", value);
                    break;
                case "user":
                    user = String(value, "user");
                    break;
                case "stop":
                    stop = Strings(value, "stop");
                    break;
                case "tools":
                    tools = ReadTools(value);
                    break;
                case "tool_choice":
                    toolChoice = value.ValueKind is JsonValueKind.Null ? null
                        : value.ValueKind is JsonValueKind.String or JsonValueKind.Object ? value.Clone()
                        : throw InvalidType("tool_choice", "a string or an object", value);
                    break;
                case "parallel_tool_calls":
                    parallelToolCalls = Boolean(value, "parallel_tool_calls");
                    break;
                case "response_format":
                    responseFormat = ReadResponseFormat(value);
                    break;
                case "stream_options":
                    streamOptions = ReadStreamOptions(value);
                    break;
                default:
                    extra.Add(property);
                    break;
            }
        }

        if (messages is null)
        {
            throw OpenAiException.BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        }

        return new ChatCompletionRequest
        {
            Messages = messages,
            Model = target.Deployment.ProviderModel,
            RequestedModel = target.RequestedModel,
            Deployment = target.Deployment.Settings,
            AdditionalProperties = extra.ToReadOnly(),
            Stream = stream,
            Temperature = temperature,
            TopP = topP,
            MaxTokens = maxTokens,
            MaxCompletionTokens = maxCompletionTokens,
            Stop = stop,
            N = n,
            PresencePenalty = presencePenalty,
            FrequencyPenalty = frequencyPenalty,
            Tools = tools,
            ToolChoice = toolChoice,
            ParallelToolCalls = parallelToolCalls,
            ResponseFormat = responseFormat,
            Seed = seed,
            User = user,
            StreamOptions = streamOptions,
        };
    }

    private static List<ChatMessage> ReadMessages(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw InvalidType("messages", "an array", value);
        }

        var count = value.GetArrayLength();
        if (count == 0)
        {
            throw OpenAiException.BadRequest("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array");
        }

        var messages = new List<ChatMessage>(count);
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            messages.Add(ReadMessage(item, $"messages[{index++}]"));
        }

        return messages;
    }

    private static ChatMessage ReadMessage(JsonElement item, string path)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw InvalidType(path, "an object", item);
        }

        ChatRole? role = null;
        string? content = null, name = null, toolCallId = null, reasoning = null;
        List<ContentPart>? parts = null;
        List<ToolCall>? toolCalls = null;
        var extra = new ExtraFields();
        foreach (var property in item.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "role":
                    role = ReadRole(value, $"{path}.role");
                    break;
                case "content":
                    (content, parts) = ReadContent(value, $"{path}.content");
                    break;
                case "name":
                    name = String(value, $"{path}.name");
                    break;
                case "tool_call_id":
                    toolCallId = String(value, $"{path}.tool_call_id");
                    break;
                case "reasoning_content":
                    reasoning = String(value, $"{path}.reasoning_content");
                    break;
                case "tool_calls":
                    toolCalls = ReadToolCalls(value, $"{path}.tool_calls");
                    break;
                default:
                    extra.Add(property);
                    break;
            }
        }

        if (role is null)
        {
            throw OpenAiException.BadRequest($"Missing required parameter: '{path}.role'.", $"{path}.role", "missing_required_parameter");
        }

        if (role == ChatRole.Tool && toolCallId is null)
        {
            throw OpenAiException.BadRequest($"Missing required parameter: '{path}.tool_call_id'.", $"{path}.tool_call_id", "missing_required_parameter");
        }

        return new ChatMessage
        {
            Role = role.Value,
            Content = content,
            ContentParts = parts,
            Name = name,
            ToolCallId = toolCallId,
            ToolCalls = toolCalls,
            ReasoningContent = reasoning,
            AdditionalProperties = extra.ToReadOnly(),
        };
    }

    private static ChatRole ReadRole(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            throw InvalidType(path, "a string", value);
        }

        var text = value.GetString();
        return text switch
        {
            "system" => ChatRole.System,
            "developer" => ChatRole.Developer,
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            "tool" => ChatRole.Tool,
            "function" => ChatRole.Function,
            _ => throw OpenAiException.BadRequest($"Invalid value: '{text}'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool', and 'function'.", path, "invalid_value"),
        };
    }

    private static (string?, List<ContentPart>?) ReadContent(JsonElement value, string path)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return (null, null);
            case JsonValueKind.String:
                return (value.GetString(), null);
            case JsonValueKind.Array:
                var parts = new List<ContentPart>(value.GetArrayLength());
                string? text = null;
                var index = 0;
                foreach (var part in value.EnumerateArray())
                {
                    var partPath = $"{path}[{index++}]";
                    if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                    {
                        throw OpenAiException.BadRequest($"Invalid '{partPath}': expected an object with a string 'type'.", partPath, "invalid_type");
                    }

                    string? partText = null;
                    if (type.ValueEquals("text"))
                    {
                        partText = part.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
                            ? t.GetString()
                            : throw OpenAiException.BadRequest($"Missing required parameter: '{partPath}.text'.", $"{partPath}.text", "missing_required_parameter");
                        text = text is null ? partText : text + partText;
                    }

                    parts.Add(new ContentPart { Type = type.GetString()!, Text = partText, Raw = part.Clone() });
                }

                return (text, parts);
            default:
                throw InvalidType(path, "a string or an array of content parts", value);
        }
    }

    private static List<ToolCall>? ReadToolCalls(JsonElement value, string path)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw InvalidType(path, "an array", value);
        }

        if (value.GetArrayLength() == 0)
        {
            throw OpenAiException.BadRequest($"Invalid '{path}': empty array. Expected an array with minimum length 1, but got an empty array instead.", path, "empty_array");
        }

        var calls = new List<ToolCall>(value.GetArrayLength());
        var index = 0;
        foreach (var call in value.EnumerateArray())
        {
            var callPath = $"{path}[{index++}]";
            if (call.ValueKind != JsonValueKind.Object
                || !call.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String
                || !call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
                || !function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
            {
                throw OpenAiException.BadRequest($"Invalid '{callPath}': expected an object with 'id' and 'function.name'.", callPath, "invalid_value");
            }

            var arguments = function.TryGetProperty("arguments", out var a) ? String(a, $"{callPath}.function.arguments") ?? "" : "";
            var type = call.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "function";
            calls.Add(new ToolCall { Id = id.GetString()!, Type = type, Function = new FunctionCall(name.GetString()!, arguments) });
        }

        return calls;
    }

    private static List<ChatTool>? ReadTools(JsonElement value) => RequestFields.Items(value, "tools", ReadTool);

    private static ChatTool ReadTool(JsonElement tool, string path)
    {
        if (tool.ValueKind != JsonValueKind.Object
            || !tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
            || !function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest($"Missing required parameter: '{path}.function.name'.", $"{path}.function.name", "missing_required_parameter");
        }

        return new ChatTool
        {
            Type = tool.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString()! : "function",
            Function = new FunctionDefinition
            {
                Name = name.GetString()!,
                Description = function.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null,
                Parameters = function.TryGetProperty("parameters", out var p) ? Object(p, $"{path}.function.parameters") : null,
                Strict = function.TryGetProperty("strict", out var s) && s.ValueKind is JsonValueKind.True or JsonValueKind.False ? s.GetBoolean() : null,
            },
        };
    }

    private static ResponseFormat? ReadResponseFormat(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("Invalid 'response_format': expected an object with a string 'type'.", "response_format", "invalid_type");
        }

        return new ResponseFormat
        {
            Type = type.GetString()!,
            JsonSchema = value.TryGetProperty("json_schema", out var schema) && schema.ValueKind == JsonValueKind.Object ? schema.Clone() : null,
        };
    }
}
