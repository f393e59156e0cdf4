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

    internal static CustomLlmException NotImplemented() => new(500, "Not implemented yet!");
}
