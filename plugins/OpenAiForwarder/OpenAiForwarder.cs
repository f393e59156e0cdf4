using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
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
/// One pooled <see cref="HttpClient"/> per handler instance, disposed when the host unloads this version.
/// A plain (non-streamed) chat completion is passed through as the upstream's own bytes
/// (<see cref="CompletionJsonAsync"/>: the host checks them and sets <c>model</c>, with no parse into records and no
/// second serialization); the other endpoints get a <see cref="ModelResponse"/> from <see cref="CompletionAsync"/>.
/// Upstream errors keep their status code and message. The request's trace context goes to the upstream as W3C
/// <c>traceparent</c>/<c>tracestate</c>, so the upstream's spans join the client's trace.
/// </remarks>
public sealed class OpenAiForwarder : CustomLlm, IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler
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
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <inheritdoc />
    public override async Task<RawChatCompletion?> CompletionJsonAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        using var message = CreateRequest(request, stream: false);
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
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
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
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
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
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

    // Per deployment (api_base, api_key): the endpoint's Uri and the Authorization header's value, made once.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string ApiBase, string? ApiKey), Upstream> _upstreams = new();

    private HttpRequestMessage CreateRequest(ChatCompletionRequest request, bool stream)
    {
        var apiBase = request.Deployment.ApiBase
            ?? throw new CustomLlmException(500, $"Model '{request.RequestedModel}' has no api_base: set litellm_params.api_base for it in plugins.yaml.");
        var upstream = _upstreams.GetOrAdd((apiBase, request.Deployment.ApiKey), static key => new Upstream(
            new Uri(key.ApiBase.TrimEnd('/') + "/chat/completions"),
            string.IsNullOrEmpty(key.ApiKey) ? null : "Bearer " + key.ApiKey));
        var message = new HttpRequestMessage(HttpMethod.Post, upstream.Endpoint)
        {
            Content = new ByteArrayContent(OpenAiWire.WriteRequest(request, stream)),
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

    private sealed record Upstream(Uri Endpoint, string? Authorization);

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
