using System.Text.Json;

namespace PluginHost.Sdk;

/// <summary>
/// A chat completion, the OpenAI <c>chat.completion</c> object. Whatever a handler leaves unset the host
/// fills in: <c>id</c> (<c>chatcmpl-…</c>), <c>created</c>, and <c>model</c> (the model name the client asked for).
/// </summary>
public sealed record ModelResponse
{
    /// <summary>The completion's id; the host generates <c>chatcmpl-…</c> when null.</summary>
    public string? Id { get; init; }

    /// <summary>When it was created; the host uses the current time when null.</summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary>The model named in the response; the host uses the client's <c>model</c> when null.</summary>
    public string? Model { get; init; }

    /// <summary>The choices (usually one).</summary>
    public required IReadOnlyList<Choice> Choices { get; init; }

    /// <summary>Token usage, if known.</summary>
    public Usage? Usage { get; init; }

    /// <summary><c>system_fingerprint</c>, if any.</summary>
    public string? SystemFingerprint { get; init; }

    /// <summary>Extra top-level fields, written to the response as they are.</summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalProperties { get; init; }

    /// <summary>
    /// The common case in one line: a single assistant message with <paramref name="content"/>.
    /// </summary>
    /// <example><code>return ModelResponse.FromText("Hi!");</code></example>
    public static ModelResponse FromText(string content, Usage? usage = null, FinishReason? finishReason = null) => new()
    {
        Choices = [new Choice { Message = new ResponseMessage { Content = content }, FinishReason = finishReason ?? FinishReason.Stop }],
        Usage = usage,
    };
}

/// <summary>One choice of a <see cref="ModelResponse"/>.</summary>
public sealed record Choice
{
    /// <summary>The choice's index; the host numbers choices by position when all are 0.</summary>
    public int Index { get; init; }

    /// <summary>The assistant's message.</summary>
    public required ResponseMessage Message { get; init; }

    /// <summary>Why generation stopped; <c>stop</c> (or <c>tool_calls</c> when the message has tool calls) when null.</summary>
    public FinishReason? FinishReason { get; init; }
}

/// <summary>The assistant's message in a <see cref="Choice"/>.</summary>
public sealed record ResponseMessage
{
    /// <summary>The role; <c>assistant</c>.</summary>
    public ChatRole Role { get; init; } = ChatRole.Assistant;

    /// <summary>The text of the answer (null when the model only called tools).</summary>
    public string? Content { get; init; }

    /// <summary>Tool calls the model made.</summary>
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary>Reasoning text, for models that expose it (<c>reasoning_content</c>).</summary>
    public string? ReasoningContent { get; init; }

    /// <summary>Provider-specific fields, passed through to the client as <c>provider_specific_fields</c>.</summary>
    public IReadOnlyDictionary<string, JsonElement>? ProviderSpecificFields { get; init; }
}

/// <summary>Token usage.</summary>
/// <param name="PromptTokens">Tokens in the prompt.</param>
/// <param name="CompletionTokens">Tokens generated.</param>
public sealed record Usage(int PromptTokens, int CompletionTokens)
{
    /// <summary>Prompt plus completion tokens.</summary>
    public int TotalTokens { get; init; } = PromptTokens + CompletionTokens;
}
