using System.Text.Json;
using PluginHost.Sdk;
using static PluginHost.OpenAi.RequestFields;

namespace PluginHost.OpenAi;

/// <summary>
/// A Responses API request as the pipeline carries it: the chat request the handler receives, and what the
/// endpoint needs to answer (the response's identity, the conversation to keep, the fields the answer repeats).
/// </summary>
internal sealed record ResponsesRequest : LlmRequest
{
    /// <summary>The handler's request (its model and deployment are this record's: a retry elsewhere changes them here).</summary>
    public required ChatCompletionRequest Chat { get; init; }

    public required ResponseIdentity Identity { get; init; }

    public required ResponseEcho Echo { get; init; }

    /// <summary>The conversation without the instructions: the previous response's, then this request's input.</summary>
    public required IReadOnlyList<ChatMessage> Conversation { get; init; }

    /// <summary>Where the answer is kept; null for <c>store: false</c>.</summary>
    public ResponseStore? Store { get; init; }

    /// <summary>The chat request for the deployment this attempt runs on.</summary>
    public ChatCompletionRequest ForHandler() =>
        Chat.Model == Model && ReferenceEquals(Chat.Deployment, Deployment) ? Chat : Chat with { Model = Model, Deployment = Deployment };
}

/// <summary>The request fields a response object repeats, as the client sent them.</summary>
internal sealed record ResponseEcho
{
    public string? Instructions { get; init; }

    public string? PreviousResponseId { get; init; }

    public int? MaxOutputTokens { get; init; }

    public double? Temperature { get; init; }

    public double? TopP { get; init; }

    public bool? ParallelToolCalls { get; init; }

    public string? User { get; init; }

    public bool Store { get; init; } = true;

    public JsonElement? Tools { get; init; }

    public JsonElement? ToolChoice { get; init; }

    public JsonElement? Text { get; init; }

    public JsonElement? Metadata { get; init; }

    public JsonElement? Reasoning { get; init; }
}

/// <summary>
/// Turns a <c>POST /responses</c> body into a chat request: <c>instructions</c> become the system message, the
/// previous response's conversation (<c>previous_response_id</c>) comes next, then <c>input</c> (a string, or
/// message, <c>function_call</c>, <c>function_call_output</c> and <c>reasoning</c> items); function tools,
/// <c>tool_choice</c>, <c>text.format</c> and the sampling fields map to their chat names. Fields the chat contract
/// does not type are kept for the handler.
/// </summary>
internal static class ResponsesRequestReader
{
    public static ResponsesRequest Read(JsonElement root, RequestTarget target)
    {
        List<ChatMessage>? input = null;
        List<ChatTool>? tools = null;
        JsonElement? toolChoice = null, toolChoiceEcho = null, toolsEcho = null, text = null, metadata = null, reasoning = null;
        ResponseFormat? format = null;
        string? instructions = null, previous = null, user = null;
        double? temperature = null, topP = null;
        int? maxOutputTokens = null;
        bool? parallelToolCalls = null;
        bool stream = false, store = true;
        var extra = new ExtraFields();
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model":
                    break;
                case "input":
                    input = ReadInput(value);
                    break;
                case "instructions":
                    instructions = String(value, "instructions");
                    break;
                case "previous_response_id":
                    previous = String(value, "previous_response_id");
                    break;
                case "stream":
                    stream = Boolean(value, "stream") == true;
                    break;
                case "store":
                    store = Boolean(value, "store") != false;
                    break;
                case "tools":
                    tools = ReadTools(value);
                    toolsEcho = value.Clone();
                    break;
                case "tool_choice":
                    (toolChoice, toolChoiceEcho) = ReadToolChoice(value);
                    break;
                case "max_output_tokens":
                    maxOutputTokens = Integer(value, "max_output_tokens", 1);
                    break;
                case "temperature":
                    temperature = Number(value, "temperature", 0, 2);
                    break;
                case "top_p":
                    topP = Number(value, "top_p", 0, 1);
                    break;
                case "parallel_tool_calls":
                    parallelToolCalls = Boolean(value, "parallel_tool_calls");
                    break;
                case "user":
                    user = String(value, "user");
                    break;
                case "text":
                    (format, text) = ReadText(value);
                    break;
                case "metadata":
                    metadata = Object(value, "metadata");
                    if (metadata is { } kept)
                    {
                        extra.Add("metadata", kept);
                    }

                    break;
                case "reasoning":
                    reasoning = Object(value, "reasoning");
                    if (reasoning is { } r && r.TryGetProperty("effort", out var effort) && effort.ValueKind == JsonValueKind.String)
                    {
                        // Chat's name for it, which handlers of reasoning models read.
                        extra.Add("reasoning_effort", effort.Clone());
                    }

                    break;
                default:
                    extra.Add(property);
                    break;
            }
        }

        if (input is null)
        {
            throw Missing("input");
        }

        IReadOnlyList<ChatMessage> history = [];
        if (previous is not null)
        {
            history = target.Services?.GetService<ResponseStore>()?.Find(previous)?.Conversation
                ?? throw new OpenAiException(400, $"Previous response with id '{previous}' not found.", "previous_response_id", "previous_response_not_found");
        }

        List<ChatMessage> conversation = [.. history, .. input];
        List<ChatMessage> messages = instructions is null ? conversation : [ChatMessage.Create(ChatRole.System, instructions), .. conversation];
        var chat = new ChatCompletionRequest
        {
            Messages = messages,
            Model = target.Deployment.ProviderModel,
            RequestedModel = target.RequestedModel,
            Deployment = target.Deployment.Settings,
            AdditionalProperties = extra.ToReadOnly(),
            Stream = stream,
            Temperature = temperature,
            TopP = topP,
            MaxCompletionTokens = maxOutputTokens,
            Tools = tools,
            ToolChoice = toolChoice,
            ParallelToolCalls = parallelToolCalls,
            ResponseFormat = format,
            User = user,
        };
        return new ResponsesRequest
        {
            Chat = chat,
            Model = chat.Model,
            RequestedModel = chat.RequestedModel,
            Deployment = chat.Deployment,
            AdditionalProperties = chat.AdditionalProperties,
            Identity = ResponseIdentity.Create("resp_", target.RequestedModel),
            Conversation = conversation,
            Store = store ? target.Services?.GetService<ResponseStore>() : null,
            Echo = new ResponseEcho
            {
                Instructions = instructions,
                PreviousResponseId = previous,
                MaxOutputTokens = maxOutputTokens,
                Temperature = temperature,
                TopP = topP,
                ParallelToolCalls = parallelToolCalls,
                User = user,
                Store = store,
                Tools = toolsEcho,
                ToolChoice = toolChoiceEcho,
                Text = text,
                Metadata = metadata,
                Reasoning = reasoning,
            },
        };
    }

    /// <summary><c>input</c>: a string (one user message) or a list of items, as chat messages.</summary>
    private static List<ChatMessage> ReadInput(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            return [ChatMessage.Create(ChatRole.User, value.GetString()!)];
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw InvalidType("input", "a string or an array of input items", value);
        }

        var messages = new List<ChatMessage>(value.GetArrayLength());
        string? reasoning = null;
        var callsContinue = false;
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            var path = $"input[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw InvalidType(path, "an object", item);
            }

            var type = item.TryGetProperty("type", out var t) ? String(t, $"{path}.type") ?? "message" : "message";
            switch (type)
            {
                case "message":
                    var message = ReadMessage(item, path);
                    if (message.Role == ChatRole.Assistant && reasoning is not null)
                    {
                        message = message with { ReasoningContent = reasoning };
                        reasoning = null;
                    }

                    messages.Add(message);
                    callsContinue = message.Role == ChatRole.Assistant;
                    break;
                case "function_call":
                    var call = new ToolCall
                    {
                        Id = RequiredString(Field(item, "call_id"), $"{path}.call_id"),
                        Function = new FunctionCall(RequiredString(Field(item, "name"), $"{path}.name"), Field(item, "arguments") is { } a ? String(a, $"{path}.arguments") ?? "" : ""),
                    };
                    if (callsContinue)
                    {
                        // Calls after an assistant message (or after each other) are that assistant turn's.
                        var last = messages[^1];
                        messages[^1] = last with { ToolCalls = [.. last.ToolCalls ?? [], call] };
                    }
                    else
                    {
                        messages.Add(new ChatMessage { Role = ChatRole.Assistant, ToolCalls = [call], ReasoningContent = reasoning });
                        reasoning = null;
                        callsContinue = true;
                    }

                    break;
                case "function_call_output":
                    messages.Add(new ChatMessage
                    {
                        Role = ChatRole.Tool,
                        ToolCallId = RequiredString(Field(item, "call_id"), $"{path}.call_id"),
                        Content = OutputText(Field(item, "output") ?? throw Missing($"{path}.output"), $"{path}.output"),
                    });
                    callsContinue = false;
                    break;
                case "reasoning":
                    reasoning = ReasoningText(item, path);
                    break;
                default:
                    throw OpenAiException.BadRequest(
                        $"Invalid '{path}.type': '{type}' items are not supported by this proxy; send 'message', 'function_call', 'function_call_output' or 'reasoning' items.",
                        $"{path}.type",
                        "unsupported_value");
            }
        }

        if (messages.Count == 0)
        {
            throw OpenAiException.BadRequest("Invalid 'input': expected at least one message or function call output.", "input", "empty_array");
        }

        return messages;
    }

    private static JsonElement? Field(JsonElement item, string name) => item.TryGetProperty(name, out var value) ? value : null;

    private static ChatMessage ReadMessage(JsonElement item, string path)
    {
        var role = Field(item, "role") is { } r ? String(r, $"{path}.role") : null;
        var chatRole = role switch
        {
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            "system" => ChatRole.System,
            "developer" => ChatRole.Developer,
            null => throw Missing($"{path}.role"),
            _ => throw OpenAiException.BadRequest($"Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system', and 'developer'.", $"{path}.role", "invalid_value"),
        };
        var content = Field(item, "content") ?? throw Missing($"{path}.content");
        if (content.ValueKind == JsonValueKind.String)
        {
            return ChatMessage.Create(chatRole, content.GetString()!);
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw InvalidType($"{path}.content", "a string or an array of content parts", content);
        }

        var parts = new List<ContentPart>(content.GetArrayLength());
        string? text = null;
        var index = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = $"{path}.content[{index++}]";
            var type = part.ValueKind == JsonValueKind.Object && Field(part, "type") is { ValueKind: JsonValueKind.String } t
                ? t.GetString()!
                : throw OpenAiException.BadRequest($"Invalid '{partPath}': expected an object with a string 'type'.", partPath, "invalid_type");
            switch (type)
            {
                case "input_text" or "output_text" or "text" or "refusal":
                    var partText = RequiredText(part, type == "refusal" ? "refusal" : "text", partPath);
                    text = text is null ? partText : text + partText;
                    parts.Add(new ContentPart { Type = "text", Text = partText, Raw = TextPart(partText) });
                    break;
                case "input_image":
                    var url = Field(part, "image_url") is { } u ? String(u, $"{partPath}.image_url") : null;
                    if (url is null)
                    {
                        throw OpenAiException.BadRequest($"Invalid '{partPath}': only images given by 'image_url' (a URL or a data URL) reach a handler.", $"{partPath}.image_url", "missing_required_parameter");
                    }

                    var detail = Field(part, "detail") is { } d ? String(d, $"{partPath}.detail") : null;
                    parts.Add(new ContentPart { Type = "image_url", Raw = ImagePart(url, detail) });
                    break;
                default:
                    // Other parts (files, audio) go to the handler as sent.
                    parts.Add(new ContentPart { Type = type, Raw = part.Clone() });
                    break;
            }
        }

        return new ChatMessage { Role = chatRole, Content = text, ContentParts = parts };
    }

    private static string RequiredText(JsonElement part, string name, string path) =>
        Field(part, name) is { ValueKind: JsonValueKind.String } text ? text.GetString()! : throw Missing($"{path}.{name}");

    /// <summary>A <c>function_call_output</c>'s <c>output</c>: a string, or parts whose text is joined.</summary>
    private static string OutputText(JsonElement output, string path)
    {
        if (output.ValueKind == JsonValueKind.String)
        {
            return output.GetString()!;
        }

        if (output.ValueKind != JsonValueKind.Array)
        {
            throw InvalidType(path, "a string or an array of content parts", output);
        }

        var text = new System.Text.StringBuilder();
        foreach (var part in output.EnumerateArray())
        {
            if (part.ValueKind == JsonValueKind.Object && Field(part, "text") is { ValueKind: JsonValueKind.String } t)
            {
                text.Append(t.GetString());
            }
        }

        return text.ToString();
    }

    /// <summary>A <c>reasoning</c> item's text: its summary's (or content's) text parts, joined.</summary>
    private static string ReasoningText(JsonElement item, string path)
    {
        var text = new System.Text.StringBuilder();
        foreach (var name in (ReadOnlySpan<string>)["summary", "content"])
        {
            if (Field(item, name) is { ValueKind: JsonValueKind.Array } parts)
            {
                foreach (var part in parts.EnumerateArray())
                {
                    if (part.ValueKind == JsonValueKind.Object && Field(part, "text") is { ValueKind: JsonValueKind.String } t)
                    {
                        text.Append(t.GetString());
                    }
                }
            }
            else if (Field(item, name) is { ValueKind: not JsonValueKind.Null } other)
            {
                throw InvalidType($"{path}.{name}", "an array", other);
            }
        }

        return text.ToString();
    }

    private static List<ChatTool>? ReadTools(JsonElement value) => RequestFields.Items(value, "tools", ReadTool);

    private static ChatTool ReadTool(JsonElement tool, string path)
    {
        var type = tool.ValueKind == JsonValueKind.Object && Field(tool, "type") is { ValueKind: JsonValueKind.String } t
            ? t.GetString()!
            : throw OpenAiException.BadRequest($"Invalid '{path}': expected an object with a string 'type'.", path, "invalid_type");
        if (type != "function")
        {
            throw OpenAiException.BadRequest(
                $"Invalid '{path}.type': '{type}' tools are not supported by this proxy; only 'function' tools reach a handler.", $"{path}.type", "unsupported_value");
        }

        return new ChatTool
        {
            Function = new FunctionDefinition
            {
                Name = RequiredString(Field(tool, "name"), $"{path}.name"),
                Description = Field(tool, "description") is { } d ? String(d, $"{path}.description") : null,
                Parameters = Field(tool, "parameters") is { } p ? Object(p, $"{path}.parameters") : null,
                Strict = Field(tool, "strict") is { } s ? Boolean(s, $"{path}.strict") : null,
            },
        };
    }

    /// <summary><c>tool_choice</c> in chat's shape (a function is <c>{"type":"function","function":{"name"}}</c> there), and as sent.</summary>
    private static (JsonElement? Chat, JsonElement? Echo) ReadToolChoice(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return (null, null);
            case JsonValueKind.String:
                OneOf(value, "tool_choice", "none", "auto", "required");
                return (value.Clone(), value.Clone());
            case JsonValueKind.Object when Field(value, "type") is { ValueKind: JsonValueKind.String } type && type.ValueEquals("function"):
                var name = RequiredString(Field(value, "name"), "tool_choice.name");
                return (Json(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("type"u8, "function"u8);
                    w.WriteStartObject("function"u8);
                    w.WriteString("name"u8, name);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }), value.Clone());
            case JsonValueKind.Object:
                return (value.Clone(), value.Clone());
            default:
                throw InvalidType("tool_choice", "a string or an object", value);
        }
    }

    /// <summary><c>text</c>: its <c>format</c> as chat's <c>response_format</c>, and the field as sent.</summary>
    private static (ResponseFormat?, JsonElement?) ReadText(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw InvalidType("text", "an object", value);
        }

        if (Field(value, "format") is not { ValueKind: not JsonValueKind.Null } format)
        {
            return (null, value.Clone());
        }

        var type = format.ValueKind == JsonValueKind.Object && Field(format, "type") is { ValueKind: JsonValueKind.String } t
            ? t.GetString()!
            : throw OpenAiException.BadRequest("Invalid 'text.format': expected an object with a string 'type'.", "text.format", "invalid_type");
        return type switch
        {
            "text" => (null, value.Clone()),
            "json_object" => (new ResponseFormat { Type = "json_object" }, value.Clone()),
            "json_schema" => (new ResponseFormat { Type = "json_schema", JsonSchema = JsonSchema(format) }, value.Clone()),
            _ => throw OpenAiException.BadRequest($"Invalid value: '{type}'. Supported values are: 'text', 'json_object', and 'json_schema'.", "text.format.type", "invalid_value"),
        };
    }

    /// <summary>Chat's <c>json_schema</c> object (<c>name</c>, <c>schema</c>, <c>strict</c>, <c>description</c>) from the Responses format, where they sit one level up.</summary>
    private static JsonElement JsonSchema(JsonElement format)
    {
        var name = RequiredString(Field(format, "name"), "text.format.name");
        var schema = Field(format, "schema") is { } s ? Object(s, "text.format.schema") : null;
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("name"u8, name);
            foreach (var property in format.EnumerateObject())
            {
                if (property.Name is "description" or "strict")
                {
                    property.WriteTo(w);
                }
            }

            if (schema is { } present)
            {
                w.WritePropertyName("schema"u8);
                present.WriteTo(w);
            }

            w.WriteEndObject();
        });
    }

    private static JsonElement TextPart(string text) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "text"u8);
        w.WriteString("text"u8, text);
        w.WriteEndObject();
    });

    private static JsonElement ImagePart(string url, string? detail) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "image_url"u8);
        w.WriteStartObject("image_url"u8);
        w.WriteString("url"u8, url);
        if (detail is not null)
        {
            w.WriteString("detail"u8, detail);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    });
}
