using System.Text;
using System.Text.Json;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.OpenAi.RequestFields;

namespace PluginHost.Anthropic;

/// <summary>
/// Turns an Anthropic <c>POST /v1/messages</c> body into a chat request: <c>system</c> becomes the system message;
/// each message's content blocks become chat content (text and image parts), an assistant's <c>tool_use</c> blocks
/// its tool calls and <c>thinking</c> its reasoning, a user's <c>tool_result</c> blocks tool messages;
/// <c>tools</c>, <c>tool_choice</c>, <c>max_tokens</c> (required), <c>stop_sequences</c> and the sampling fields map to
/// their chat names. Fields the chat contract does not type (<c>top_k</c>, <c>thinking</c>…) are kept for the handler.
/// </summary>
internal static class MessagesRequestReader
{
    public static ChatCompletionRequest Read(JsonElement root, RequestTarget target)
    {
        List<ChatMessage>? messages = null;
        string? system = null, user = null;
        int? maxTokens = null;
        double? temperature = null, topP = null;
        List<string>? stop = null;
        List<ChatTool>? tools = null;
        JsonElement? toolChoice = null;
        bool? parallelToolCalls = null;
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
                case "system":
                    system = value.ValueKind == JsonValueKind.String ? value.GetString() : TextOf(value, "system");
                    break;
                case "max_tokens":
                    maxTokens = Integer(value, "max_tokens", 1);
                    break;
                case "stream":
                    stream = Boolean(value, "stream") == true;
                    break;
                case "temperature":
                    temperature = Number(value, "temperature", 0, 1);
                    break;
                case "top_p":
                    topP = Number(value, "top_p", 0, 1);
                    break;
                case "stop_sequences":
                    stop = value.ValueKind == JsonValueKind.Array ? Strings(value, "stop_sequences") : value.ValueKind == JsonValueKind.Null ? null : throw InvalidType("stop_sequences", "an array of strings", value);
                    break;
                case "tools":
                    tools = ReadTools(value);
                    break;
                case "tool_choice":
                    (toolChoice, parallelToolCalls) = ReadToolChoice(value);
                    break;
                case "metadata":
                    if (Object(value, "metadata") is { } metadata)
                    {
                        user = metadata.TryGetProperty("user_id", out var id) ? String(id, "metadata.user_id") : null;
                        extra.Add("metadata", metadata);
                    }

                    break;
                default:
                    extra.Add(property);
                    break;
            }
        }

        if (messages is null)
        {
            throw Missing("messages");
        }

        if (maxTokens is null)
        {
            throw Missing("max_tokens");
        }

        if (system is not null)
        {
            messages.Insert(0, ChatMessage.Create(ChatRole.System, system));
        }

        return new ChatCompletionRequest
        {
            Messages = messages,
            Model = target.Deployment.ProviderModel,
            RequestedModel = target.RequestedModel,
            Deployment = target.Deployment.Settings,
            AdditionalProperties = extra.ToReadOnly(),
            Stream = stream,
            MaxTokens = maxTokens,
            Temperature = temperature,
            TopP = topP,
            Stop = stop,
            Tools = tools,
            ToolChoice = toolChoice,
            ParallelToolCalls = parallelToolCalls,
            User = user,
        };
    }

    private static List<ChatMessage> ReadMessages(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw InvalidType("messages", "an array", value);
        }

        if (value.GetArrayLength() == 0)
        {
            throw OpenAiException.BadRequest("messages: at least one message is required.", "messages", "empty_array");
        }

        var messages = new List<ChatMessage>(value.GetArrayLength() + 1);
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            var path = $"messages[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw InvalidType(path, "an object", item);
            }

            var role = item.TryGetProperty("role", out var r) ? String(r, $"{path}.role") : null;
            var content = item.TryGetProperty("content", out var c) ? c : throw Missing($"{path}.content");
            switch (role)
            {
                case "user":
                    ReadUser(content, path, messages);
                    break;
                case "assistant":
                    messages.Add(ReadAssistant(content, path));
                    break;
                case null:
                    throw Missing($"{path}.role");
                default:
                    throw OpenAiException.BadRequest($"{path}.role: Input should be 'user' or 'assistant'.", $"{path}.role", "invalid_value");
            }
        }

        return messages;
    }

    /// <summary>A user turn: its <c>tool_result</c> blocks as tool messages, then the rest as one user message.</summary>
    private static void ReadUser(JsonElement content, string path, List<ChatMessage> messages)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            messages.Add(ChatMessage.Create(ChatRole.User, content.GetString()!));
            return;
        }

        var parts = new List<ContentPart>();
        string? text = null;
        var index = 0;
        foreach (var block in Blocks(content, $"{path}.content"))
        {
            var blockPath = $"{path}.content[{index++}]";
            var type = BlockType(block, blockPath);
            switch (type)
            {
                case "tool_result":
                    var extra = new ExtraFields();
                    if (block.TryGetProperty("is_error", out var isError) && Boolean(isError, $"{blockPath}.is_error") == true)
                    {
                        extra.Add("is_error", isError.Clone());
                    }

                    messages.Add(new ChatMessage
                    {
                        Role = ChatRole.Tool,
                        ToolCallId = RequiredString(block.TryGetProperty("tool_use_id", out var id) ? id : null, $"{blockPath}.tool_use_id"),
                        Content = block.TryGetProperty("content", out var result) ? (result.ValueKind == JsonValueKind.String ? result.GetString() : TextOf(result, $"{blockPath}.content")) : "",
                        AdditionalProperties = extra.ToReadOnly(),
                    });
                    break;
                case "text":
                    var blockText = TextField(block, blockPath);
                    text += blockText;
                    parts.Add(new ContentPart { Type = "text", Text = blockText, Raw = TextPart(blockText) });
                    break;
                case "image":
                    parts.Add(new ContentPart { Type = "image_url", Raw = ImagePart(block, blockPath) });
                    break;
                default:
                    // Other blocks (documents, …) reach the handler as sent.
                    parts.Add(new ContentPart { Type = type, Raw = block.Clone() });
                    break;
            }
        }

        if (parts.Count > 0)
        {
            messages.Add(new ChatMessage { Role = ChatRole.User, Content = text, ContentParts = parts });
        }
    }

    /// <summary>An assistant turn: text, <c>thinking</c> as reasoning, <c>tool_use</c> as tool calls.</summary>
    private static ChatMessage ReadAssistant(JsonElement content, string path)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            return ChatMessage.Create(ChatRole.Assistant, content.GetString()!);
        }

        string? text = null, reasoning = null;
        List<ToolCall>? calls = null;
        var index = 0;
        foreach (var block in Blocks(content, $"{path}.content"))
        {
            var blockPath = $"{path}.content[{index++}]";
            switch (BlockType(block, blockPath))
            {
                case "text":
                    text += TextField(block, blockPath);
                    break;
                case "thinking":
                    reasoning += block.TryGetProperty("thinking", out var thinking) ? String(thinking, $"{blockPath}.thinking") : null;
                    break;
                case "tool_use":
                    var input = block.TryGetProperty("input", out var i) ? i : default;
                    (calls ??= []).Add(new ToolCall
                    {
                        Id = RequiredString(block.TryGetProperty("id", out var id) ? id : null, $"{blockPath}.id"),
                        Function = new FunctionCall(
                            RequiredString(block.TryGetProperty("name", out var name) ? name : null, $"{blockPath}.name"),
                            input.ValueKind == JsonValueKind.Object ? input.GetRawText() : input.ValueKind == JsonValueKind.Undefined ? "{}" : throw InvalidType($"{blockPath}.input", "an object", input)),
                    });
                    break;
                default:
                    // Redacted thinking and server tool blocks have nothing a chat handler can use.
                    break;
            }
        }

        return new ChatMessage { Role = ChatRole.Assistant, Content = text, ReasoningContent = reasoning, ToolCalls = calls };
    }

    private static JsonElement.ArrayEnumerator Blocks(JsonElement content, string path) =>
        content.ValueKind == JsonValueKind.Array ? content.EnumerateArray() : throw InvalidType(path, "a string or an array of content blocks", content);

    private static string BlockType(JsonElement block, string path) =>
        block.ValueKind == JsonValueKind.Object && block.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : throw OpenAiException.BadRequest($"{path}: expected a content block (an object with a string 'type').", path, "invalid_type");

    private static string TextField(JsonElement block, string path) =>
        block.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String ? text.GetString()! : throw Missing($"{path}.text");

    /// <summary>The text of a list of text blocks (<c>system</c>, a <c>tool_result</c>'s content), joined.</summary>
    private static string TextOf(JsonElement blocks, string path)
    {
        var text = new StringBuilder();
        var index = 0;
        foreach (var block in Blocks(blocks, path))
        {
            var blockPath = $"{path}[{index++}]";
            if (BlockType(block, blockPath) == "text")
            {
                text.Append(TextField(block, blockPath));
            }
        }

        return text.ToString();
    }

    private static JsonElement TextPart(string text) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "text"u8);
        w.WriteString("text"u8, text);
        w.WriteEndObject();
    });

    /// <summary>An image block as chat's <c>image_url</c> part: a URL source as it is, base64 data as a data URL.</summary>
    private static JsonElement ImagePart(JsonElement block, string path)
    {
        var source = block.TryGetProperty("source", out var s) && s.ValueKind == JsonValueKind.Object ? s : throw Missing($"{path}.source");
        var kind = source.TryGetProperty("type", out var k) ? String(k, $"{path}.source.type") : null;
        var url = kind switch
        {
            "url" => RequiredString(source.TryGetProperty("url", out var u) ? u : null, $"{path}.source.url"),
            "base64" => $"data:{RequiredString(source.TryGetProperty("media_type", out var m) ? m : null, $"{path}.source.media_type")};base64,{RequiredString(source.TryGetProperty("data", out var d) ? d : null, $"{path}.source.data")}",
            _ => throw OpenAiException.BadRequest($"{path}.source.type: only 'base64' and 'url' images reach a handler.", $"{path}.source.type", "unsupported_value"),
        };
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "image_url"u8);
            w.WriteStartObject("image_url"u8);
            w.WriteString("url"u8, url);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static List<ChatTool>? ReadTools(JsonElement value) => RequestFields.Items(value, "tools", ReadTool);

    private static ChatTool ReadTool(JsonElement tool, string path)
    {
        if (tool.ValueKind != JsonValueKind.Object)
        {
            throw InvalidType(path, "an object", tool);
        }

        if (tool.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && !type.ValueEquals("custom"))
        {
            throw OpenAiException.BadRequest($"{path}.type: '{type.GetString()}' tools are not supported by this proxy; only custom tools (with an input_schema) reach a handler.", $"{path}.type", "unsupported_value");
        }

        return new ChatTool
        {
            Function = new FunctionDefinition
            {
                Name = RequiredString(tool.TryGetProperty("name", out var name) ? name : null, $"{path}.name"),
                Description = tool.TryGetProperty("description", out var d) ? String(d, $"{path}.description") : null,
                Parameters = tool.TryGetProperty("input_schema", out var schema) ? Object(schema, $"{path}.input_schema") : throw Missing($"{path}.input_schema"),
            },
        };
    }

    /// <summary><c>tool_choice</c> in chat's shape, and <c>disable_parallel_tool_use</c> as <c>parallel_tool_calls: false</c>.</summary>
    private static (JsonElement?, bool?) ReadToolChoice(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }

        if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("tool_choice: expected an object with a string 'type'.", "tool_choice", "invalid_type");
        }

        bool? parallel = value.TryGetProperty("disable_parallel_tool_use", out var disable) && Boolean(disable, "tool_choice.disable_parallel_tool_use") == true ? false : null;
        var type = t.GetString();
        JsonElement choice = type switch
        {
            "auto" => Json(w => w.WriteStringValue("auto"u8)),
            "any" => Json(w => w.WriteStringValue("required"u8)),
            "none" => Json(w => w.WriteStringValue("none"u8)),
            "tool" => Json(w =>
            {
                var name = RequiredString(value.TryGetProperty("name", out var n) ? n : null, "tool_choice.name");
                w.WriteStartObject();
                w.WriteString("type"u8, "function"u8);
                w.WriteStartObject("function"u8);
                w.WriteString("name"u8, name);
                w.WriteEndObject();
                w.WriteEndObject();
            }),
            _ => throw OpenAiException.BadRequest($"tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'.", "tool_choice.type", "invalid_value"),
        };
        return (choice, parallel);
    }
}
