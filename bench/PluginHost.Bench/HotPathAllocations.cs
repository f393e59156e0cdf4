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
            var bytes = (GC.GetAllocatedBytesForCurrentThread() - bytesBefore) / (double)Iterations;
            total += (long)bytes;
            text.Append(CultureInfo.InvariantCulture, $"| {name} | {bytes:0} | {elapsed.TotalNanoseconds / Iterations:0} |\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"| sum of the steps above | {total} | |\n");
        report.Detail(text.ToString());
        GC.KeepAlive(request);
        return Task.FromResult(0);
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
