using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using PluginHost.Sdk;

namespace OpenAiForwarder;

/// <summary>
/// Forwards requests to any OpenAI-compatible server: <c>api_base</c> (e.g. <c>http://127.0.0.1:8000/v1</c>)
/// and <c>api_key</c> come from the deployment in <c>plugins.yaml</c>, and the provider's model name is
/// what follows the provider prefix. Streams are passed through chunk by chunk as the upstream sends them.
/// </summary>
/// <remarks>
/// One pooled <see cref="SocketsHttpHandler"/> per handler instance, disposed when the host unloads this version.
/// A plain (non-streamed) chat completion is passed through as the upstream's own bytes
/// (<see cref="CompletionJsonAsync"/>: the host checks them and sets <c>model</c>, with no parse into records and no
/// second serialization); the other endpoints get a <see cref="ModelResponse"/> from <see cref="CompletionAsync"/>.
/// Upstream errors keep their status code and message. The request's trace context goes to the upstream as W3C
/// <c>traceparent</c>/<c>tracestate</c>, so the upstream's spans join the client's trace.
/// </remarks>
public sealed class OpenAiForwarder : CustomLlm, IDisposable
{
    // An HttpMessageInvoker, as YARP forwards: HttpClient's layer (a linked CancellationTokenSource per request for
    // its timeout and CancelPendingRequests, one more async state machine) does nothing a forwarder needs. The
    // handler returns as soon as the headers arrive and the body is read as it comes.
    private readonly HttpMessageInvoker _http = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        EnableMultipleHttp2Connections = true,
        // No DiagnosticsHandler (it would start an activity of its own around every call): CreateRequest adds the
        // trace context itself.
        ActivityHeadersPropagator = null,
    }, disposeHandler: true);

    /// <inheritdoc />
    public override async Task<RawChatCompletion?> CompletionJsonAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        using var message = CreateRequest(request, stream: false);
        using var response = await _http.SendAsync(message, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength is not { } length || length > Array.MaxLength)
        {
            return new RawChatCompletion { Json = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false) };
        }

        // The usual case (a Content-Length): one array of exactly the answer's size, read straight from the connection.
        var json = new byte[length];
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await body.ReadExactlyAsync(json, cancellationToken).ConfigureAwait(false);
        return new RawChatCompletion { Json = json };
    }

    /// <inheritdoc />
    public override async Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        using var message = CreateRequest(request, stream: false);
        using var response = await _http.SendAsync(message, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var document = await JsonDocument.ParseAsync(body, default, cancellationToken).ConfigureAwait(false);
        return OpenAiWire.ReadCompletion(document.RootElement);
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(
        ChatCompletionRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var message = CreateRequest(request, stream: true);
        using var response = await _http.SendAsync(message, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(body);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
            {
                continue;
            }

            var data = line.AsMemory(5).Trim();
            if (data.Span.SequenceEqual("[DONE]"))
            {
                yield break;
            }

            using var document = JsonDocument.Parse(data);
            if (document.RootElement.TryGetProperty("error", out var error))
            {
                throw new CustomLlmException(502, "Upstream stream error: " + OpenAiWire.ErrorMessage(error));
            }

            foreach (var chunk in OpenAiWire.ReadChunk(document.RootElement))
            {
                yield return chunk;
            }
        }
    }

    // Per upstream (api_base, api_key, http2): the endpoint's Uri, the Authorization header's value and the HTTP
    // version, made once. Keyed by value, not by the host's Deployment objects, which change with every config reload.
    private readonly ConcurrentDictionary<(string? ApiBase, string? ApiKey, bool Http2), Upstream> _upstreams = new();

    private HttpRequestMessage CreateRequest(ChatCompletionRequest request, bool stream)
    {
        var deployment = request.Deployment;
        var upstream = _upstreams.GetOrAdd((deployment.ApiBase, deployment.ApiKey, Upstream.Http2(deployment)), static key => Upstream.For(key.ApiBase, key.ApiKey, key.Http2));
        var message = new HttpRequestMessage(HttpMethod.Post, upstream.Endpoint ?? throw new CustomLlmException(500, $"Model '{request.RequestedModel}' has no api_base: set litellm_params.api_base for it in plugins.yaml."))
        {
            Content = new ByteArrayContent(OpenAiWire.WriteRequest(request, stream)),
            Version = upstream.Version,
            VersionPolicy = upstream.VersionPolicy,
        };
        // Known-good values, added without parsing them into header objects on every request.
        message.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        if (upstream.Authorization is { } authorization)
        {
            message.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        // The current span (the host's span of this attempt when it traces; else the one ASP.NET Core keeps for the
        // request, which carries the client's traceparent): the upstream continues the same trace. None, nothing to send.
        if (Activity.Current is { } activity)
        {
            DistributedContextPropagator.Current.Inject(activity, message, static (carrier, name, value) => ((HttpRequestMessage)carrier!).Headers.TryAddWithoutValidation(name, value));
        }

        return message;
    }

    /// <summary>How requests for one deployment go upstream.</summary>
    /// <param name="Endpoint">The chat completions URL; null without an <c>api_base</c>.</param>
    /// <param name="Authorization">The <c>Authorization</c> header's value; null without an <c>api_key</c>.</param>
    /// <param name="Version">HTTP/2 for <c>https</c> (ALPN falls back to HTTP/1.1) and with <c>http2: true</c>; HTTP/1.1 otherwise.</param>
    /// <param name="VersionPolicy">Exactly HTTP/2 with <c>http2: true</c> (cleartext HTTP/2 by prior knowledge), else the version or lower.</param>
    private sealed record Upstream(Uri? Endpoint, string? Authorization, Version Version, HttpVersionPolicy VersionPolicy)
    {
        public static Upstream For(string? apiBase, string? apiKey, bool http2)
        {
            var endpoint = apiBase is null ? null : new Uri(apiBase.TrimEnd('/') + "/chat/completions");
            var authorization = string.IsNullOrEmpty(apiKey) ? null : "Bearer " + apiKey;
            if (http2)
            {
                return new Upstream(endpoint, authorization, HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact);
            }

            return endpoint?.Scheme == Uri.UriSchemeHttps
                ? new Upstream(endpoint, authorization, HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower)
                : new Upstream(endpoint, authorization, HttpVersion.Version11, HttpVersionPolicy.RequestVersionOrLower);
        }

        /// <summary><c>litellm_params.http2: true</c> (a YAML boolean, or the string <c>true</c>).</summary>
        public static bool Http2(Deployment deployment) =>
            deployment.LitellmParams.TryGetValue("http2", out var value)
            && (value is true || value is string text && bool.TryParse(text, out var flag) && flag);
    }

    private static async Task ThrowIfFailedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var message = text;
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.TryGetProperty("error", out var error))
            {
                message = OpenAiWire.ErrorMessage(error);
            }
        }
        catch (JsonException)
        {
        }

        throw new CustomLlmException((int)response.StatusCode, $"Upstream returned {(int)response.StatusCode}: {message}");
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
