using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

// A minimal OpenAI-compatible server: parses the request JSON the way the proxy does (a JsonDocument, the
// model and each message's role checked) and answers a chat.completion of the proxy's shape, or, for
// "stream": true, an SSE stream of chunks sent with configurable delays.
//
//   MiniOpenAi --port 8000 [--key sk-1234] [--chunks 20] [--chunk-delay-ms 10] [--first-chunk-delay-ms 2] [--h2c-port 8001]
//
// --h2c-port also serves cleartext HTTP/2 (prior knowledge) on a second port, for a forwarder with http2: true.
var settings = MiniSettings.Parse(args);
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.UseKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Listen(System.Net.IPAddress.Loopback, settings.Port);
    if (settings.H2cPort is { } h2c)
    {
        kestrel.Listen(System.Net.IPAddress.Loopback, h2c, listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
    }
});

var app = builder.Build();
app.MapPost("/v1/chat/completions", context => ChatCompletion.HandleAsync(context, settings));
app.MapPost("/chat/completions", context => ChatCompletion.HandleAsync(context, settings));
app.MapGet("/health", () => "ok");
await app.RunAsync();

internal sealed record MiniSettings(int Port, string? Key, int Chunks, TimeSpan ChunkDelay, TimeSpan FirstChunkDelay, int? H2cPort)
{
    public static MiniSettings Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            values[args[i]] = args[i + 1];
        }

        int Int(string name, int fallback) => values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        return new MiniSettings(
            Int("--port", 8000),
            values.GetValueOrDefault("--key"),
            Int("--chunks", 20),
            TimeSpan.FromMilliseconds(Int("--chunk-delay-ms", 10)),
            TimeSpan.FromMilliseconds(Int("--first-chunk-delay-ms", 2)),
            values.ContainsKey("--h2c-port") ? Int("--h2c-port", 0) : null);
    }
}

internal static class ChatCompletion
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task HandleAsync(HttpContext context, MiniSettings settings)
    {
        if (settings.Key is { } key && context.Request.Headers.Authorization.ToString() != "Bearer " + key)
        {
            context.Response.StatusCode = 401;
            return;
        }

        using var document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("model", out var modelElement) || modelElement.GetString() is not { Length: > 0 } model
            || !root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array
            || !AllMessagesHaveRoles(messages))
        {
            context.Response.StatusCode = 400;
            return;
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        var id = "chatcmpl-" + Guid.NewGuid();
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (stream)
        {
            await StreamAsync(context, settings, id, created, model);
            return;
        }

        context.Response.ContentType = "application/json";
        using (var w = new Utf8JsonWriter(context.Response.BodyWriter, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("id"u8, id);
            w.WriteString("object"u8, "chat.completion"u8);
            w.WriteNumber("created"u8, created);
            w.WriteString("model"u8, model);
            w.WriteStartArray("choices"u8);
            w.WriteStartObject();
            w.WriteNumber("index"u8, 0);
            w.WriteStartObject("message"u8);
            w.WriteString("role"u8, "assistant"u8);
            w.WriteString("content"u8, "Hi!"u8);
            w.WriteNull("refusal"u8);
            w.WriteEndObject();
            w.WriteNull("logprobs"u8);
            w.WriteString("finish_reason"u8, "stop"u8);
            w.WriteEndObject();
            w.WriteEndArray();
            WriteUsage(w);
            w.WriteNull("system_fingerprint"u8);
            w.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static bool AllMessagesHaveRoles(JsonElement messages)
    {
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object || !message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Token i is "tok{i}@{sent} ", the first after <see cref="MiniSettings.FirstChunkDelay"/>, the others
    /// <see cref="MiniSettings.ChunkDelay"/> apart (measured from the stream's start, so the schedule does not drift).
    /// </summary>
    private static async Task StreamAsync(HttpContext context, MiniSettings settings, string id, long created, string model)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync(context.RequestAborted);
        var pipe = response.BodyWriter;
        var started = Stopwatch.GetTimestamp();
        using var w = new Utf8JsonWriter(pipe, WriterOptions);
        for (var i = 0; i < settings.Chunks; i++)
        {
            var due = settings.FirstChunkDelay + (settings.ChunkDelay * i);
            var wait = due - Stopwatch.GetElapsedTime(started);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, context.RequestAborted);
            }

            Event(w, pipe, () =>
            {
                ChunkStart(w, id, created, model);
                w.WriteStartObject("delta"u8);
                if (i == 0)
                {
                    w.WriteString("role"u8, "assistant"u8);
                }

                // The send time rides in the token ("tok3@<monotonic ticks>"): a client on this machine can tell
                // how long each chunk took to reach it, through the proxy or not (Stopwatch is CLOCK_MONOTONIC).
                w.WriteString("content"u8, $"tok{i}@{Stopwatch.GetTimestamp()} ");
                w.WriteEndObject();
                w.WriteNull("finish_reason"u8);
                ChunkEnd(w);
            });
            await pipe.FlushAsync(context.RequestAborted);
        }

        Event(w, pipe, () =>
        {
            ChunkStart(w, id, created, model);
            w.WriteStartObject("delta"u8);
            w.WriteEndObject();
            w.WriteString("finish_reason"u8, "stop"u8);
            ChunkEnd(w);
        });
        Event(w, pipe, () =>
        {
            w.WriteStartObject();
            w.WriteString("id"u8, id);
            w.WriteString("object"u8, "chat.completion.chunk"u8);
            w.WriteNumber("created"u8, created);
            w.WriteString("model"u8, model);
            w.WriteStartArray("choices"u8);
            w.WriteEndArray();
            WriteUsage(w);
            w.WriteEndObject();
        });
        pipe.Write("data: [DONE]\n\n"u8);
        await pipe.FlushAsync(context.RequestAborted);
    }

    private static void Event(Utf8JsonWriter w, System.IO.Pipelines.PipeWriter pipe, Action write)
    {
        pipe.Write("data: "u8);
        w.Reset(pipe);
        write();
        w.Flush();
        pipe.Write("\n\n"u8);
    }

    private static void ChunkStart(Utf8JsonWriter w, string id, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, id);
        w.WriteString("object"u8, "chat.completion.chunk"u8);
        w.WriteNumber("created"u8, created);
        w.WriteString("model"u8, model);
        w.WriteStartArray("choices"u8);
        w.WriteStartObject();
        w.WriteNumber("index"u8, 0);
    }

    private static void ChunkEnd(Utf8JsonWriter w)
    {
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteUsage(Utf8JsonWriter w)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, 10);
        w.WriteNumber("completion_tokens"u8, 20);
        w.WriteNumber("total_tokens"u8, 30);
        w.WriteEndObject();
    }
}
