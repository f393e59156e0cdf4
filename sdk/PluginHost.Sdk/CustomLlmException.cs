namespace PluginHost.Sdk;

/// <summary>
/// Thrown by a handler to answer the client with a specific HTTP status and message, like LiteLLM's
/// <c>CustomLLMError</c>. Unlike LiteLLM, the proxy honours <see cref="StatusCode"/> instead of turning
/// every handler error into a 500.
/// </summary>
public class CustomLlmException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="statusCode">The HTTP status the client receives (400–599; anything else becomes 500).</param>
    /// <param name="message">The message the client receives in <c>error.message</c>.</param>
    public CustomLlmException(int statusCode, string message)
        : base(message)
    {
        StatusCode = statusCode;
    }

    /// <summary>Creates the exception with an inner cause (never shown to the client).</summary>
    public CustomLlmException(int statusCode, string message, Exception? innerException)
        : base(message, innerException)
    {
        StatusCode = statusCode;
    }

    /// <summary>The HTTP status code the client receives.</summary>
    public int StatusCode { get; }

    /// <summary>The OpenAI error <c>type</c>; when null the host derives it from the status code.</summary>
    public string? ErrorType { get; init; }

    /// <summary>The OpenAI error <c>code</c>, if any (for example <c>"rate_limit_exceeded"</c>).</summary>
    public string? ErrorCode { get; init; }

    /// <summary>The request parameter the error is about, if any.</summary>
    public string? Param { get; init; }

    /// <summary>
    /// How long the client should wait before trying again, sent as the <c>Retry-After</c> header (whole seconds,
    /// rounded up); set by <see cref="RateLimited"/>.
    /// </summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>
    /// The provider is rate limiting: status 429, code <c>rate_limit_exceeded</c>, and <c>Retry-After</c> when
    /// <paramref name="retryAfter"/> is given. LiteLLM's <c>RateLimitError</c>: worth retrying later or elsewhere.
    /// </summary>
    /// <param name="message">The message the client receives.</param>
    /// <param name="retryAfter">How long to wait before trying again, if the provider said.</param>
    public static CustomLlmException RateLimited(string message, TimeSpan? retryAfter = null) =>
        new(429, message) { ErrorCode = "rate_limit_exceeded", RetryAfter = retryAfter };

    /// <summary>
    /// The request does not fit the model's context window: status 400, code <c>context_length_exceeded</c> (OpenAI's).
    /// LiteLLM's <c>ContextWindowExceededError</c>: retrying the same model cannot help; a larger model can.
    /// </summary>
    /// <param name="message">The message the client receives.</param>
    public static CustomLlmException ContextWindowExceeded(string message) =>
        new(400, message) { ErrorCode = "context_length_exceeded", Param = "messages" };

    /// <summary>
    /// The provider refused the content: status 400, code <c>content_policy_violation</c> (OpenAI's). LiteLLM's
    /// <c>ContentPolicyViolationError</c>: retrying the same model cannot help; another model may answer.
    /// </summary>
    /// <param name="message">The message the client receives.</param>
    public static CustomLlmException ContentPolicyViolation(string message) =>
        new(400, message) { ErrorCode = "content_policy_violation" };

    internal static CustomLlmException NotImplemented() => new(500, "Not implemented yet!");
}
