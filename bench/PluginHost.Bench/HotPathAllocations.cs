using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;

namespace PluginHost.Bench;

/// <summary>
/// Bytes allocated and time taken by each step of the non-streaming request path, called directly on one
/// thread (exact allocation counts from <see cref="GC.GetAllocatedBytesForCurrentThread"/>; times are
/// indicative only on a shared machine). Used by bench/profile.sh, not by the timed run.
/// </summary>
internal static class HotPathAllocations
{
    private const int Iterations = 200_000;

    public static Task<int> RunAsync(BenchArgs args)
    {
        var report = args.Report();
        var body = ChatClient.Body("my-custom-model", stream: false);
        var deployment = new ModelDeployment
        {
            ModelName = "my-custom-model",
            Provider = "my-custom-llm",
            ProviderModel = "my-model",
            Settings = Deployment.None,
            Location = "bench",
        };
        var output = new ArrayBufferWriter<byte>(4096);
        using var document = JsonDocument.Parse(body);
        var request = ChatRequestReader.Read(document.RootElement, new RequestTarget("my-custom-model", deployment));
        var response = ModelResponse.FromText("Hi!", new Usage(10, 20));
        var identity = ResponseIdentity.Create("chatcmpl-", "my-custom-model");
        const string header = "Bearer sk-1234";

        var steps = new (string Name, Action Step)[]
        {
            ("JsonDocument.Parse of the request body (bytes; the endpoint parses the body stream)", () => JsonDocument.Parse(body).Dispose()),
            ("RequestInput.ReadModel + ChatRequestReader.Read → ChatCompletionRequest", () => ChatRequestReader.Read(document.RootElement, new RequestTarget(RequestInput.ReadModel(document.RootElement), deployment))),
            ("master key check as in ApiKeyMiddleware.IsAuthorized (two SHA-256, two strings, two byte arrays)", () => KeyCheckAsInHost(header, "sk-1234")),
            ("Deadline.Start + Dispose (no timeout configured)", () => Deadline.Start(CancellationToken.None, null).Dispose()),
            ("the Hi! handler's answer: ModelResponse.FromText + Task.FromResult", () => Task.FromResult(ModelResponse.FromText("Hi!", new Usage(10, 20)))),
            ("ResponseIdentity.Create (chatcmpl- id from a Guid)", () => ResponseIdentity.Create("chatcmpl-", "my-custom-model")),
            ("new Utf8JsonWriter + ChatResponseWriter.WriteCompletion", () =>
            {
                output.ResetWrittenCount();
                using var writer = new Utf8JsonWriter(output, WireJsonContext.WriterOptions);
                ChatResponseWriter.WriteCompletion(writer, response, identity);
            }),
        };

        var text = new StringBuilder($"**Allocations per request, step by step** — each step called {Iterations:N0} times on one thread after a warm-up\n\n| step | bytes per call | ns per call (indicative) |\n|---|---|---|\n");
        long total = 0;
        foreach (var (name, step) in steps)
        {
            var (bytes, nanoseconds) = Measure(step);
            total += (long)bytes;
            text.Append(CultureInfo.InvariantCulture, $"| {name} | {bytes:0} | {nanoseconds:0} |\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"| sum of the steps above | {total} | |\n");
        report.Detail(text.ToString());
        report.Detail(ForwardedAnswer(request));
        GC.KeepAlive(request);
        return Task.FromResult(0);
    }

    /// <summary>
    /// The forwarder's answer, from the upstream's bytes to the client's: parsed into a <see cref="ModelResponse"/> and
    /// serialized again (what <c>CompletionAsync</c> costs), against the pass-through (<c>CompletionJsonAsync</c>:
    /// <see cref="RawChatCompletionWriter"/> checks and copies the bytes).
    /// </summary>
    private static string ForwardedAnswer(ChatCompletionRequest request)
    {
        var upstream = """{"id":"chatcmpl-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9","object":"chat.completion","created":1764500000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi! This is a test answer from the upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":10,"total_tokens":22}}"""u8.ToArray();
        var output = new ArrayBufferWriter<byte>(4096);
        var identity = ResponseIdentity.Create("chatcmpl-", "my-custom-model");
        var raw = new ChatAnswer(new RawChatCompletion { Json = upstream });
        var steps = new (string Name, Action Step)[]
        {
            ("record path: JsonDocument.Parse + a ModelResponse as the forwarder's OpenAiWire.ReadCompletion builds it + ChatResponseWriter.WriteCompletion", () =>
            {
                using var document = JsonDocument.Parse(upstream);
                var response = ReadAsTheForwarderDoes(document.RootElement);
                output.ResetWrittenCount();
                using var writer = new Utf8JsonWriter(output, WireJsonContext.WriterOptions);
                ChatResponseWriter.WriteCompletion(writer, response, identity);
            }),
            ("pass-through: ChatCompletionsEndpoint.Write of a RawChatCompletion (check, usage, model set, copy)", () =>
            {
                output.ResetWrittenCount();
                using var writer = new Utf8JsonWriter(output, WireJsonContext.WriterOptions);
                ChatCompletionsEndpoint.Write(writer, request, raw);
            }),
        };

        var text = new StringBuilder($"**The forwarder's answer, upstream bytes to client bytes** — a {upstream.Length} B chat.completion, each way called {Iterations:N0} times on one thread after a warm-up\n\n| path | bytes per call | ns per call (indicative) |\n|---|---|---|\n");
        foreach (var (name, step) in steps)
        {
            var (bytes, nanoseconds) = Measure(step);
            text.Append(CultureInfo.InvariantCulture, $"| {name} | {bytes:0} | {nanoseconds:0} |\n");
        }

        return text.ToString();
    }

    /// <summary>Bytes allocated and nanoseconds per call of <paramref name="step"/>, on this thread, after a warm-up.</summary>
    private static (double Bytes, double Nanoseconds) Measure(Action step)
    {
        for (var i = 0; i < 10_000; i++)
        {
            step();
        }

        var bytesBefore = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < Iterations; i++)
        {
            step();
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        return ((GC.GetAllocatedBytesForCurrentThread() - bytesBefore) / (double)Iterations, elapsed.TotalNanoseconds / Iterations);
    }

    /// <summary>A copy of the part of plugins/OpenAiForwarder/OpenAiWire.ReadCompletion this answer exercises.</summary>
    private static ModelResponse ReadAsTheForwarderDoes(JsonElement root)
    {
        var choices = new List<Choice>();
        foreach (var choice in root.GetProperty("choices").EnumerateArray())
        {
            var message = choice.GetProperty("message");
            choices.Add(new Choice
            {
                Index = choice.GetProperty("index").GetInt32(),
                FinishReason = new FinishReason(choice.GetProperty("finish_reason").GetString()!),
                Message = new ResponseMessage { Content = message.GetProperty("content").GetString() },
            });
        }

        var usage = root.GetProperty("usage");
        return new ModelResponse { Choices = choices, Usage = new Usage(usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32()) };
    }

    /// <summary>A copy of what host/OpenAi/ApiKeyMiddleware.cs does per request, to weigh it.</summary>
    private static bool KeyCheckAsInHost(string header, string key)
    {
        Span<byte> given = stackalloc byte[32];
        Span<byte> expected = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(header.AsSpan("Bearer ".Length).Trim().ToString()), given);
        SHA256.HashData(Encoding.UTF8.GetBytes(key), expected);
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }
}
