using System.Text.Json;

namespace PluginHost.Sdk;

/// <summary>
/// One piece of a streamed answer, LiteLLM's <c>GenericStreamingChunk</c>. The host turns each into an
/// OpenAI <c>chat.completion.chunk</c> and writes it to the client as soon as it is yielded.
/// </summary>
public sealed record GenericStreamingChunk
{
    /// <summary>Text to append to the answer (may be empty).</summary>
    public string Text { get; init; } = "";

    /// <summary>A tool call, or a piece of one: the first piece for an index carries id and name, later ones more arguments.</summary>
    public ToolUse? ToolUse { get; init; }

    /// <summary>Whether this is the last chunk of its choice.</summary>
    public bool IsFinished { get; init; }

    /// <summary>Why the choice finished, when <see cref="IsFinished"/>; <c>stop</c> (or <c>tool_calls</c>) when null.</summary>
    public FinishReason? FinishReason { get; init; }

    /// <summary>Token usage, usually on the last chunk.</summary>
    public Usage? Usage { get; init; }

    /// <summary>Which choice this chunk belongs to.</summary>
    public int Index { get; init; }

    /// <summary>Reasoning text to append (<c>reasoning_content</c>).</summary>
    public string? ReasoningContent { get; init; }

    /// <summary>Provider-specific fields, passed through to the client in the chunk's delta.</summary>
    public IReadOnlyDictionary<string, JsonElement>? ProviderSpecificFields { get; init; }

    /// <summary>A chunk carrying text.</summary>
    public static GenericStreamingChunk FromText(string text) => new() { Text = text };

    /// <summary>The last chunk.</summary>
    public static GenericStreamingChunk Finished(FinishReason? finishReason = null, Usage? usage = null) =>
        new() { IsFinished = true, FinishReason = finishReason ?? Sdk.FinishReason.Stop, Usage = usage };
}

/// <summary>A tool call, or a piece of one, in a <see cref="GenericStreamingChunk"/>.</summary>
public sealed record ToolUse
{
    /// <summary>The call's id (on its first piece).</summary>
    public string? Id { get; init; }

    /// <summary>The call's type; <c>function</c>.</summary>
    public string Type { get; init; } = "function";

    /// <summary>The function and (a piece of) its arguments.</summary>
    public required ToolUseFunction Function { get; init; }

    /// <summary>The call's position among the choice's tool calls; pieces with the same index are one call.</summary>
    public int Index { get; init; }
}

/// <summary>A function name (on the first piece) and a piece of its JSON arguments.</summary>
/// <param name="Name">The function's name; null on later pieces.</param>
/// <param name="Arguments">A piece of the arguments' JSON text.</param>
public sealed record ToolUseFunction(string? Name, string Arguments);
