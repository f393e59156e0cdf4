using System.Text.Json;

namespace PluginHost.Sdk;

/// <summary>
/// One legacy text completion request (<c>POST /completions</c>) as the handler sees it, already validated,
/// plus what the proxy's configuration says about the deployment that serves it.
/// </summary>
public sealed record TextCompletionRequest : LlmRequest
{
    /// <summary><c>prompt</c>, always a list: a single string becomes a list of one.</summary>
    public required IReadOnlyList<string> Prompt { get; init; }

    /// <summary>Whether the client asked for a stream.</summary>
    public bool Stream { get; init; }

    /// <summary><c>max_tokens</c>.</summary>
    public int? MaxTokens { get; init; }

    /// <summary><c>temperature</c>.</summary>
    public double? Temperature { get; init; }

    /// <summary><c>top_p</c>.</summary>
    public double? TopP { get; init; }

    /// <summary><c>n</c>: completions per prompt.</summary>
    public int? N { get; init; }

    /// <summary><c>stop</c>, normalised to a list.</summary>
    public IReadOnlyList<string>? Stop { get; init; }

    /// <summary><c>suffix</c>: text that comes after the completion.</summary>
    public string? Suffix { get; init; }

    /// <summary><c>echo</c>: whether the prompt is repeated before the completion.</summary>
    public bool Echo { get; init; }

    /// <summary><c>presence_penalty</c>.</summary>
    public double? PresencePenalty { get; init; }

    /// <summary><c>frequency_penalty</c>.</summary>
    public double? FrequencyPenalty { get; init; }

    /// <summary><c>seed</c>.</summary>
    public long? Seed { get; init; }

    /// <summary><c>user</c>.</summary>
    public string? User { get; init; }

    /// <summary><c>stream_options</c>.</summary>
    public StreamOptions? StreamOptions { get; init; }

    /// <summary>
    /// The chat request a text completion becomes when the handler has no text completion method: the
    /// prompt at <paramref name="promptIndex"/> as a single user message, with the shared parameters.
    /// </summary>
    public ChatCompletionRequest ToChatCompletionRequest(int promptIndex = 0) => new()
    {
        Model = Model,
        RequestedModel = RequestedModel,
        Messages = [ChatMessage.Create(ChatRole.User, Prompt[promptIndex])],
        Stream = Stream,
        Temperature = Temperature,
        TopP = TopP,
        MaxTokens = MaxTokens,
        N = N,
        Stop = Stop,
        PresencePenalty = PresencePenalty,
        FrequencyPenalty = FrequencyPenalty,
        Seed = Seed,
        User = User,
        StreamOptions = StreamOptions,
        AdditionalProperties = AdditionalProperties,
        Deployment = Deployment,
    };
}

/// <summary>
/// A legacy text completion, OpenAI's <c>text_completion</c> object. Whatever a handler leaves unset the host
/// fills in: <c>id</c> (<c>cmpl-…</c>), <c>created</c>, and <c>model</c>.
/// </summary>
public sealed record TextCompletionResponse
{
    /// <summary>The completion's id; the host generates <c>cmpl-…</c> when null.</summary>
    public string? Id { get; init; }

    /// <summary>When it was created; the host uses the current time when null.</summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary>The model named in the response; the host uses the client's <c>model</c> when null.</summary>
    public string? Model { get; init; }

    /// <summary>The choices: <c>n</c> per prompt, prompt by prompt.</summary>
    public required IReadOnlyList<TextChoice> Choices { get; init; }

    /// <summary>Token usage, if known.</summary>
    public Usage? Usage { get; init; }

    /// <summary><c>system_fingerprint</c>, if any.</summary>
    public string? SystemFingerprint { get; init; }

    /// <summary>Extra top-level fields, written to the response as they are.</summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalProperties { get; init; }

    /// <summary>The common case in one line: a single choice with <paramref name="text"/>.</summary>
    public static TextCompletionResponse FromText(string text, Usage? usage = null, FinishReason? finishReason = null) => new()
    {
        Choices = [new TextChoice { Text = text, FinishReason = finishReason ?? FinishReason.Stop }],
        Usage = usage,
    };
}

/// <summary>One choice of a <see cref="TextCompletionResponse"/>.</summary>
public sealed record TextChoice
{
    /// <summary>The choice's index; the host numbers choices by position when all are 0.</summary>
    public int Index { get; init; }

    /// <summary>The generated text.</summary>
    public required string Text { get; init; }

    /// <summary>Why generation stopped; <c>stop</c> when null.</summary>
    public FinishReason? FinishReason { get; init; }
}
