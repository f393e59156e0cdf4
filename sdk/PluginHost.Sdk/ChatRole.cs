namespace PluginHost.Sdk;

/// <summary>
/// The author of a chat message. Open-ended: unknown roles a client sends round-trip unchanged,
/// though the host only accepts the roles OpenAI defines.
/// </summary>
/// <param name="Value">The wire value, e.g. <c>"user"</c>.</param>
public readonly record struct ChatRole(string Value)
{
    /// <summary><c>system</c>.</summary>
    public static ChatRole System { get; } = new("system");

    /// <summary><c>developer</c> (OpenAI's newer name for system instructions).</summary>
    public static ChatRole Developer { get; } = new("developer");

    /// <summary><c>user</c>.</summary>
    public static ChatRole User { get; } = new("user");

    /// <summary><c>assistant</c>.</summary>
    public static ChatRole Assistant { get; } = new("assistant");

    /// <summary><c>tool</c>: the result of a tool call.</summary>
    public static ChatRole Tool { get; } = new("tool");

    /// <summary><c>function</c>: the legacy form of <see cref="Tool"/>.</summary>
    public static ChatRole Function { get; } = new("function");

    /// <inheritdoc />
    public override string ToString() => Value;
}

/// <summary>
/// Why a choice stopped. Open-ended: a handler may return any value, and it reaches the client as is.
/// </summary>
/// <param name="Value">The wire value, e.g. <c>"stop"</c>.</param>
public readonly record struct FinishReason(string Value)
{
    /// <summary><c>stop</c>: natural end or a stop sequence.</summary>
    public static FinishReason Stop { get; } = new("stop");

    /// <summary><c>length</c>: the token limit was reached.</summary>
    public static FinishReason Length { get; } = new("length");

    /// <summary><c>tool_calls</c>: the model called one or more tools.</summary>
    public static FinishReason ToolCalls { get; } = new("tool_calls");

    /// <summary><c>content_filter</c>: content was omitted by a filter.</summary>
    public static FinishReason ContentFilter { get; } = new("content_filter");

    /// <summary><c>function_call</c>: the legacy form of <see cref="ToolCalls"/>.</summary>
    public static FinishReason FunctionCall { get; } = new("function_call");

    /// <inheritdoc />
    public override string ToString() => Value;
}
