using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// What an endpoint supplies to the <see cref="RequestPipeline"/>: only what is its own. Reading its wire shape
/// into an SDK request, which handler method answers it, and writing the handler's answer in its wire shape.
/// Everything else (body, model, lease, deadline, error translation, buffered write) is the pipeline's.
/// </summary>
/// <typeparam name="TRequest">The SDK request the handler receives.</typeparam>
/// <typeparam name="TResponse">The SDK response the handler returns.</typeparam>
internal interface IHandlerEndpoint<TRequest, TResponse>
    where TRequest : LlmRequest
    where TResponse : class
{
    /// <summary>What a handler must override to serve this endpoint; others get 500 <c>Not implemented yet!</c>.</summary>
    static abstract HandlerCapabilities Capability { get; }

    /// <summary>Whether the body is a multipart form (read by <see cref="ReadFormAsync"/>) rather than a JSON object (read by <see cref="Read"/>).</summary>
    static virtual bool TakesForm => false;

    /// <summary>Reads a JSON request, throwing a 4xx <see cref="OpenAiException"/> for what OpenAI would refuse.</summary>
    static virtual TRequest Read(JsonElement root, RequestTarget target, RequestLimits limits) =>
        throw new NotSupportedException("This endpoint takes a form.");

    /// <summary>Reads a multipart form request, throwing a 4xx <see cref="OpenAiException"/> for what OpenAI would refuse.</summary>
    static virtual ValueTask<TRequest> ReadFormAsync(IFormCollection form, RequestTarget target, RequestLimits limits, CancellationToken cancellationToken) =>
        throw new NotSupportedException("This endpoint takes JSON.");

    /// <summary>Calls the handler's method.</summary>
    static abstract Task<TResponse> InvokeAsync(CustomLlm handler, TRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the answer as one JSON value. Throws <see cref="InvalidAnswerException"/> for an answer that cannot
    /// be written; nothing has been sent then, and the client gets a 500 naming the handler.
    /// </summary>
    static abstract void Write(Utf8JsonWriter writer, TRequest request, TResponse response);

    /// <summary>The operation, as OpenTelemetry's GenAI conventions name it where they have a name (<c>chat</c>, <c>text_completion</c>, <c>embeddings</c>).</summary>
    static abstract string Operation { get; }

    /// <summary>The tokens an answer used (for <c>tpm</c> limits, metrics and the access log); null when the endpoint reports none.</summary>
    static virtual Usage? UsageOf(TResponse response) => null;

    /// <summary>Whether the request asks for server-sent events.</summary>
    static virtual bool Streams(TRequest request) => false;

    /// <summary>The handler's stream and how to write it, for requests that <see cref="Streams"/>.</summary>
    static virtual HandlerStream Stream(CustomLlm handler, TRequest request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("This endpoint does not stream.");
}

/// <summary>A handler's stream with the endpoint's way of writing it.</summary>
/// <param name="Chunks">The handler's chunks.</param>
/// <param name="Format">Turns chunks into the endpoint's SSE events.</param>
/// <param name="IncludeUsage">Whether the stream ends with a usage event (<c>stream_options.include_usage</c>).</param>
internal readonly record struct HandlerStream(IAsyncEnumerable<GenericStreamingChunk> Chunks, IStreamFormat Format, bool IncludeUsage);

/// <summary>
/// Which deployment a request is for: the model name the client asked for and its deployment; and the proxy's
/// services, for an endpoint that keeps state between requests (the Responses API's store of recent answers).
/// </summary>
internal readonly record struct RequestTarget(string RequestedModel, ModelDeployment Deployment, IServiceProvider? Services = null);

/// <summary>A handler's answer that cannot be written (a bug in the handler), described for the client.</summary>
internal sealed class InvalidAnswerException(string problem) : Exception(problem);
