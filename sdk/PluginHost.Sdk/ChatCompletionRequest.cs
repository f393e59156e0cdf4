using System.Text.Json;

namespace PluginHost.Sdk;

/// <summary>
/// One chat completion request as the handler sees it: the client's OpenAI request, already validated,
/// plus what the proxy's configuration says about the deployment that serves it.
/// </summary>
public sealed record ChatCompletionRequest : LlmRequest
{
    /// <summary>The conversation so far.</summary>
    public required IReadOnlyList<ChatMessage> Messages { get; init; }

    /// <summary>Whether the client asked for a stream. The host picks the method to call from it; handlers rarely need it.</summary>
    public bool Stream { get; init; }

    /// <summary><c>temperature</c>.</summary>
    public double? Temperature { get; init; }

    /// <summary><c>top_p</c>.</summary>
    public double? TopP { get; init; }

    /// <summary><c>max_tokens</c> (legacy).</summary>
    public int? MaxTokens { get; init; }

    /// <summary><c>max_completion_tokens</c>.</summary>
    public int? MaxCompletionTokens { get; init; }

    /// <summary><c>stop</c>, normalised to a list whether the client sent a string or an array.</summary>
    public IReadOnlyList<string>? Stop { get; init; }

    /// <summary><c>n</c>: how many choices to generate.</summary>
    public int? N { get; init; }

    /// <summary><c>presence_penalty</c>.</summary>
    public double? PresencePenalty { get; init; }

    /// <summary><c>frequency_penalty</c>.</summary>
    public double? FrequencyPenalty { get; init; }

    /// <summary><c>tools</c>: the functions the model may call.</summary>
    public IReadOnlyList<ChatTool>? Tools { get; init; }

    /// <summary><c>tool_choice</c>: a string (<c>"auto"</c>, <c>"none"</c>, <c>"required"</c>) or an object naming a function.</summary>
    public JsonElement? ToolChoice { get; init; }

    /// <summary><c>parallel_tool_calls</c>.</summary>
    public bool? ParallelToolCalls { get; init; }

    /// <summary><c>response_format</c>.</summary>
    public ResponseFormat? ResponseFormat { get; init; }

    /// <summary><c>seed</c>.</summary>
    public long? Seed { get; init; }

    /// <summary><c>user</c>.</summary>
    public string? User { get; init; }

    /// <summary><c>stream_options</c>.</summary>
    public StreamOptions? StreamOptions { get; init; }
}

/// <summary>One message of the conversation.</summary>
public sealed record ChatMessage
{
    /// <summary>Who wrote it.</summary>
    public required ChatRole Role { get; init; }

    /// <summary>The content when the client sent a plain string; when it sent parts, their text joined (see <see cref="ContentParts"/>).</summary>
    public string? Content { get; init; }

    /// <summary>The content parts when the client sent an array (text, image_url, input_audio, file…); null for plain strings.</summary>
    public IReadOnlyList<ContentPart>? ContentParts { get; init; }

    /// <summary><c>name</c>: an optional participant name.</summary>
    public string? Name { get; init; }

    /// <summary><c>tool_calls</c> made by an assistant message.</summary>
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary><c>tool_call_id</c> a tool message answers.</summary>
    public string? ToolCallId { get; init; }

    /// <summary><c>reasoning_content</c> of an assistant message, if the client sent it back.</summary>
    public string? ReasoningContent { get; init; }

    /// <summary>Any other field of the message, as sent.</summary>
    public IReadOnlyDictionary<string, JsonElement> AdditionalProperties { get; init; } = LlmRequest.EmptyProperties;

    /// <summary>Creates a message with plain text content.</summary>
    public static ChatMessage Create(ChatRole role, string content) => new() { Role = role, Content = content };
}

/// <summary>One part of a multi-part message content.</summary>
public sealed record ContentPart
{
    /// <summary>The part's <c>type</c>: <c>text</c>, <c>image_url</c>, <c>input_audio</c>, <c>file</c>, …</summary>
    public required string Type { get; init; }

    /// <summary>The text of a <c>text</c> part.</summary>
    public string? Text { get; init; }

    /// <summary>The whole part as sent, for types the contract does not model.</summary>
    public JsonElement Raw { get; init; }
}

/// <summary>A tool (function) the model may call.</summary>
public sealed record ChatTool
{
    /// <summary>The tool's type; <c>function</c> today.</summary>
    public string Type { get; init; } = "function";

    /// <summary>The function's definition.</summary>
    public required FunctionDefinition Function { get; init; }
}

/// <summary>A function the model may call.</summary>
public sealed record FunctionDefinition
{
    /// <summary>The function's name.</summary>
    public required string Name { get; init; }

    /// <summary>What the function does.</summary>
    public string? Description { get; init; }

    /// <summary>The JSON schema of its parameters.</summary>
    public JsonElement? Parameters { get; init; }

    /// <summary>Whether the schema must be followed exactly.</summary>
    public bool? Strict { get; init; }
}

/// <summary>A tool call made by the model.</summary>
public sealed record ToolCall
{
    /// <summary>The call's id, which the tool's answer refers to.</summary>
    public required string Id { get; init; }

    /// <summary>The call's type; <c>function</c> today.</summary>
    public string Type { get; init; } = "function";

    /// <summary>The function called and its arguments.</summary>
    public required FunctionCall Function { get; init; }
}

/// <summary>A function name with its arguments as a JSON string.</summary>
/// <param name="Name">The function's name.</param>
/// <param name="Arguments">The arguments, as the JSON text the model produced.</param>
public sealed record FunctionCall(string Name, string Arguments);

/// <summary><c>response_format</c>: <c>text</c>, <c>json_object</c> or <c>json_schema</c>.</summary>
public sealed record ResponseFormat
{
    /// <summary>The format's <c>type</c>.</summary>
    public required string Type { get; init; }

    /// <summary>The <c>json_schema</c> object when <see cref="Type"/> is <c>json_schema</c>.</summary>
    public JsonElement? JsonSchema { get; init; }
}

/// <summary><c>stream_options</c>.</summary>
public sealed record StreamOptions
{
    /// <summary>Whether the stream ends with a usage chunk.</summary>
    public bool IncludeUsage { get; init; }
}
