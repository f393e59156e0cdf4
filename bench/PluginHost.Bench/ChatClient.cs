using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace PluginHost.Bench;

/// <summary>The benchmark's HTTP client: one pooled <see cref="SocketsHttpHandler"/>, requests shaped like the reference page's curl.</summary>
internal sealed class ChatClient : IDisposable
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private readonly HttpClient _http;

    public ChatClient(TimeSpan? timeout = null)
    {
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        })
        {
            Timeout = timeout ?? TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>The request body: the reference page's request, with the model and stream flag set.</summary>
    public static byte[] Body(string model, bool stream, string content = "Say \\\"this is a test\\\" in JSON!") =>
        Encoding.UTF8.GetBytes($$"""{"model":"{{model}}","messages":[{"role":"user","content":"{{content}}"}]{{(stream ? ",\"stream\":true" : "")}}}""");

    /// <summary>
    /// The same request in the shape of <paramref name="target"/>'s API (<c>--a-api</c>): chat completions (the
    /// default), OpenAI's Responses API (<c>responses</c>) or Anthropic's Messages API (<c>messages</c>).
    /// </summary>
    public static byte[] Body(Target target, bool stream, string content = "Say \\\"this is a test\\\" in JSON!") => target.Api switch
    {
        "chat" => Body(target.Model, stream, content),
        "responses" => Encoding.UTF8.GetBytes($$"""{"model":"{{target.Model}}","input":"{{content}}"{{(stream ? ",\"stream\":true" : "")}}}"""),
        "messages" => Encoding.UTF8.GetBytes($$"""{"model":"{{target.Model}}","max_tokens":256,"messages":[{"role":"user","content":"{{content}}"}]{{(stream ? ",\"stream\":true" : "")}}}"""),
        var other => throw new ArgumentException($"api '{other}' of side '{target.Label}': expected chat, responses or messages"),
    };

    public HttpRequestMessage Request(Target target, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, target.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = Json;
        if (target.Key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", target.Key);
        }

        return request;
    }

    /// <summary>Sends one non-streaming request; the latency covers sending it and reading the whole body.</summary>
    public async Task<(double Ms, string? Error, string Body)> CompleteAsync(Target target, byte[] body, string expect)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = Request(target, body);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            var text = await response.Content.ReadAsStringAsync();
            var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (ms, $"HTTP {(int)response.StatusCode}: {Truncate(text)}", text);
            }

            return text.Contains(expect, StringComparison.Ordinal) ? (ms, null, text) : (ms, $"unexpected body: {Truncate(text)}", text);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            return (Stopwatch.GetElapsedTime(started).TotalMilliseconds, $"{ex.GetType().Name}: {ex.Message}", "");
        }
    }

    public Task<HttpResponseMessage> SendStreamingAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);

    public async Task<JsonDocument> GetJsonAsync(string url, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await _http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
    }

    private static string Truncate(string text) => text.Length > 200 ? text[..200] + "…" : text;

    public void Dispose() => _http.Dispose();
}
