using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using PluginHost.OpenAi;
using PluginHost.Plugins;
using PluginHost.Sdk;

namespace PluginHost.Workers;

/// <summary>
/// The hidden <c>worker</c> mode of the host binary (internal: the proxy starts it, people do not; it is not in
/// <c>--help</c>): <c>PluginHost.dll worker --plugin PATH --sha256 HASH --socket PATH --request-timeout SECONDS
/// --constructor-timeout SECONDS</c>. It loads that one assembly, refusing bytes whose SHA-256 is not the one the proxy
/// validated, and serves its handlers over HTTP/1.1 on the Unix socket: <c>GET /ready</c>, <c>POST /handlers/{type}</c>
/// (create one), <c>POST /call/{type}/{method}</c> (one SDK request in, one SDK response out) and
/// <c>POST /stream/{type}/{method}</c> (NDJSON, one flushed line per chunk). It exits when its standard input closes
/// (the proxy stopped it, or died), and kills itself when a handler runs out of memory or ignores cancellation.
/// </summary>
internal static class WorkerProgram
{
    public const string Command = "worker";

    /// <summary>Prefix of the lines the worker writes about itself; the proxy quotes the last one when the worker dies.</summary>
    public const string ReasonPrefix = "pluginhost-worker: ";

    /// <summary>The exit code of a worker that refused its assembly (a hash mismatch, or one it cannot load).</summary>
    public const int Refused = 3;

    public static async Task<int> RunAsync(string[] args)
    {
        var options = Arguments(args);
        var path = options["--plugin"];
        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Refuse($"cannot read {path}: {ex.Message}");
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(content));
        if (!string.Equals(hash, options["--sha256"], StringComparison.OrdinalIgnoreCase))
        {
            return Refuse($"{path} is not the assembly the proxy validated (SHA-256 {hash}, expected {options["--sha256"]}): it changed in between.");
        }

        // The dependencies the proxy checked (trust enforced): the same bytes, or nothing.
        var dependencies = new List<CheckedAssembly>();
        foreach (var dependency in DependencyArguments(args).Select(WorkerDependency.Parse))
        {
            var bytes = File.ReadAllBytes(dependency.Path);
            var dependencyHash = Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (!string.Equals(dependencyHash, dependency.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                return Refuse($"its dependency {dependency.Path} is not the one the proxy validated (SHA-256 {dependencyHash}, expected {dependency.Sha256}): it changed in between.");
            }

            dependencies.Add(new CheckedAssembly(dependency.Path, bytes));
        }

        LoadedPlugin plugin;
        try
        {
            var file = new PluginFile(Path.GetFileNameWithoutExtension(path), Path.GetFullPath(path));

            // The proxy admitted these bytes (PluginAdmission, by their SHA-256) before starting this worker.
            plugin = LoadedPlugin.Load(file, content, new Admission(AdmissionVerdict.Load, hash, null, dependencies), 1, Seconds(options["--constructor-timeout"]));
        }
        catch (Exception ex)
        {
            return Refuse($"cannot load {path}: {ex.Message}");
        }

        var watch = new CallWatch(Seconds(options["--request-timeout"]) + TimeSpan.FromSeconds(1));
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console => console.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);

        // The proxy drains a worker's calls before it stops it: nothing is left to wait for.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;

            // The proxy is the only client: a stream its own client reads slowly is not a reason to cut it here.
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.ListenUnixSocket(options["--socket"]);
        });
        await using var app = builder.Build();
        var hello = new WorkerHello(Environment.ProcessId, plugin.Version, plugin.Handlers);
        app.MapGet("/ready", context => WriteAsync(context, hello, WorkerJson.Default.WorkerHello));
        app.MapPost("/handlers/{type}", context => CreateAsync(context, plugin));
        app.MapPost("/call/{type}/{method}", context => CallAsync(context, plugin, watch));
        app.MapPost("/stream/{type}/{method}", context => StreamAsync(context, plugin, watch));

        var lifetime = app.Lifetime;
        new Thread(() => ExitWhenInputCloses(lifetime)) { IsBackground = true, Name = "worker-parent-watch" }.Start();
        new Thread(watch.Run) { IsBackground = true, Name = "worker-watchdog", Priority = ThreadPriority.AboveNormal }.Start();
        await app.StartAsync();
        await app.WaitForShutdownAsync();

        // Not `return`: a handler's foreground thread would keep the process alive.
        Environment.Exit(0);
        return 0;
    }

    private static int Refuse(string reason)
    {
        Console.Error.WriteLine(ReasonPrefix + "refused: " + reason);
        return Refused;
    }

    private static IEnumerable<string> DependencyArguments(string[] args)
    {
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--dependency")
            {
                yield return args[i + 1];
            }
        }
    }

    private static Dictionary<string, string> Arguments(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i]] = args[i + 1];
        }

        foreach (var required in (string[])["--plugin", "--sha256", "--socket", "--request-timeout", "--constructor-timeout"])
        {
            if (!options.ContainsKey(required))
            {
                throw new ArgumentException($"The worker needs {required}; it is started by the proxy, not by hand.");
            }
        }

        return options;
    }

    private static TimeSpan Seconds(string text) => TimeSpan.FromSeconds(double.Parse(text, CultureInfo.InvariantCulture));

    /// <summary>The proxy holds the other end of standard input: when it closes, the proxy is stopping this worker or is gone.</summary>
    private static void ExitWhenInputCloses(IHostApplicationLifetime lifetime)
    {
        try
        {
            using var input = Console.OpenStandardInput();
            var buffer = new byte[256];
            while (input.Read(buffer) > 0)
            {
            }
        }
        catch (IOException)
        {
        }

        lifetime.StopApplication();

        // A worker whose handlers do not let it stop within a few seconds ends anyway.
        Thread.Sleep(TimeSpan.FromSeconds(3));
        Die("the proxy closed its end of standard input and the worker did not stop within 3 s");
    }

    /// <summary>Ends this process at once (SIGKILL): nothing a handler does can delay it.</summary>
    internal static void Die(string reason)
    {
        Console.Error.WriteLine(ReasonPrefix + reason);
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill();
    }

    private static async Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> info, int status = 200)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, value, info, context.RequestAborted);
    }

    private static Task FailAsync(HttpContext context, WorkerError error) => WriteAsync(context, error, WorkerJson.Default.WorkerError, 500);

    private static async Task CreateAsync(HttpContext context, LoadedPlugin plugin)
    {
        var type = (string)context.Request.RouteValues["type"]!;
        try
        {
            var handler = plugin.GetHandler(type);
            await WriteAsync(context, new WorkerHandler(type, handler.Capabilities, OverridesPassThrough(handler)), WorkerJson.Default.WorkerHandler);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            await FailAsync(context, new WorkerError("setup", 500, ex.Message));
        }
    }

    private static async Task CallAsync(HttpContext context, LoadedPlugin plugin, CallWatch watch)
    {
        var type = (string)context.Request.RouteValues["type"]!;
        var method = (string)context.Request.RouteValues["method"]!;
        var token = context.RequestAborted;
        using var call = watch.Start(type);
        try
        {
            var handler = plugin.GetHandler(type);
            var body = context.Request.Body;
            switch (method)
            {
                case "chat":
                    await AnswerAsync(context, await handler.CompletionAsync(await ReadAsync(body, WorkerJson.Default.ChatCompletionRequest, token), token), WorkerJson.Default.ModelResponse);
                    break;
                case "chat_json":
                    await AnswerJsonAsync(context, handler, await ReadAsync(body, WorkerJson.Default.ChatCompletionRequest, token), token);
                    break;
                case "text":
                    await AnswerAsync(context, await handler.TextCompletionAsync(await ReadAsync(body, WorkerJson.Default.TextCompletionRequest, token), token), WorkerJson.Default.TextCompletionResponse);
                    break;
                case "embedding":
                    await AnswerAsync(context, await handler.EmbeddingAsync(await ReadAsync(body, WorkerJson.Default.EmbeddingRequest, token), token), WorkerJson.Default.EmbeddingResponse);
                    break;
                case "image_generation":
                    await AnswerAsync(context, await handler.ImageGenerationAsync(await ReadAsync(body, WorkerJson.Default.ImageGenerationRequest, token), token), WorkerJson.Default.ImageResponse);
                    break;
                case "image_edit":
                    await AnswerAsync(context, await handler.ImageEditAsync(await ReadAsync(body, WorkerJson.Default.ImageEditRequest, token), token), WorkerJson.Default.ImageResponse);
                    break;
                case "rerank":
                    await AnswerAsync(context, await handler.RerankAsync(await ReadAsync(body, WorkerJson.Default.RerankRequest, token), token), WorkerJson.Default.RerankResponse);
                    break;
                default:
                    await FailAsync(context, new WorkerError("setup", 500, $"the worker has no method '{method}'"));
                    break;
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The proxy gave up on the call (its client left, or a timeout): no one to answer.
        }
        catch (OutOfMemoryException)
        {
            Die($"handler {type} ran out of memory; the worker's state cannot be trusted");
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            await FailAsync(context, WorkerError.From(ex));
        }
    }

    private static async Task AnswerAsync<T>(HttpContext context, T? response, JsonTypeInfo<T> info)
        where T : class
    {
        // Serialized whole before anything is sent, so a response that cannot be written is still a clean error.
        await AnswerBytesAsync(context, response is null ? "null"u8.ToArray() : JsonSerializer.SerializeToUtf8Bytes(response, info));
    }

    private static async Task AnswerBytesAsync(HttpContext context, byte[] json)
    {
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = json.Length;
        await context.Response.Body.WriteAsync(json, context.RequestAborted);
    }

    /// <summary>Whether <paramref name="handler"/> has a pass-through of its own (<see cref="CustomLlm.CompletionJsonAsync"/>).</summary>
    private static bool OverridesPassThrough(CustomLlm handler) =>
        handler.GetType().GetMethod(nameof(CustomLlm.CompletionJsonAsync), [typeof(ChatCompletionRequest), typeof(CancellationToken)])?.DeclaringType != typeof(CustomLlm);

    /// <summary>
    /// A pass-through handler's chat completion as <c>chat.completion</c> bytes, as the proxy's own endpoint would make
    /// them: the handler's raw answer as it gave it, or, when it declines (null), its <see cref="ModelResponse"/>
    /// written here. One call either way; the proxy checks and copies the bytes as it does an in-process handler's.
    /// A null <see cref="ModelResponse"/> is answered <c>null</c>, for the proxy to report as it does in process.
    /// </summary>
    private static async Task AnswerJsonAsync(HttpContext context, CustomLlm handler, ChatCompletionRequest request, CancellationToken token)
    {
        byte[] bytes;
        if (await handler.CompletionJsonAsync(request, token) is { } raw)
        {
            bytes = raw.Json.ToArray();
        }
        else if (await handler.CompletionAsync(request, token) is { } record)
        {
            var buffer = new ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer, WireJsonContext.WriterOptions))
            {
                ChatResponseWriter.WriteCompletion(writer, record, ResponseIdentity.Create("chatcmpl-", request.RequestedModel));
            }

            bytes = buffer.WrittenSpan.ToArray();
        }
        else
        {
            bytes = "null"u8.ToArray();
        }

        await AnswerBytesAsync(context, bytes);
    }

    private static async Task<T> ReadAsync<T>(Stream body, JsonTypeInfo<T> info, CancellationToken token) =>
        await JsonSerializer.DeserializeAsync(body, info, token) ?? throw new JsonException("the request is null");

    private static async Task StreamAsync(HttpContext context, LoadedPlugin plugin, CallWatch watch)
    {
        var type = (string)context.Request.RouteValues["type"]!;
        var method = (string)context.Request.RouteValues["method"]!;
        var token = context.RequestAborted;
        using var call = watch.Start(type);
        var response = context.Response;
        response.ContentType = "application/x-ndjson";
        var pipe = response.BodyWriter;
        using var writer = new Utf8JsonWriter(pipe);
        try
        {
            var handler = plugin.GetHandler(type);
            var chunks = method switch
            {
                "chat" => handler.StreamingAsync(await ReadAsync(context.Request.Body, WorkerJson.Default.ChatCompletionRequest, token), token),
                "text" => handler.TextCompletionStreamingAsync(await ReadAsync(context.Request.Body, WorkerJson.Default.TextCompletionRequest, token), token),
                _ => throw new InvalidOperationException($"the worker has no stream '{method}'"),
            };
            await foreach (var chunk in chunks.WithCancellation(token))
            {
                await FrameAsync(new StreamFrame(chunk, null));

                // A stream's limit is the gap between its chunks (as the proxy's side counts it), not its whole length.
                call.Restart();
            }

            await FrameAsync(new StreamFrame(null, null, End: true));
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (OutOfMemoryException)
        {
            Die($"handler {type} ran out of memory; the worker's state cannot be trusted");
        }
        catch (Exception ex)
        {
            await FrameAsync(new StreamFrame(null, WorkerError.From(ex)));
        }

        async Task FrameAsync(StreamFrame frame)
        {
            JsonSerializer.Serialize(writer, frame, WorkerJson.Default.StreamFrame);
            writer.Flush();
            writer.Reset();
            pipe.Write("\n"u8);
            await pipe.FlushAsync(token);
        }
    }

    /// <summary>
    /// The calls running in this worker, and the watchdog that ends the worker when one of them outlives the proxy's
    /// <c>worker_request_timeout</c> (plus a second's grace): by then the proxy has cancelled it, so its handler ignores
    /// cancellation, and only a new process gets its threads back.
    /// </summary>
    private sealed class CallWatch(TimeSpan limit)
    {
        private readonly ConcurrentDictionary<long, (string Type, long Started)> _calls = new();
        private long _next;

        public Registration Start(string type)
        {
            var id = Interlocked.Increment(ref _next);
            _calls[id] = (type, Stopwatch.GetTimestamp());
            return new Registration(this, id);
        }

        public void Run()
        {
            while (true)
            {
                Thread.Sleep(100);
                foreach (var (_, (type, started)) in _calls)
                {
                    if (Stopwatch.GetElapsedTime(started) > limit)
                    {
                        Die($"a call to handler {type} ran past worker_request_timeout and did not stop when cancelled");
                    }
                }
            }
        }

        public readonly struct Registration(CallWatch watch, long id) : IDisposable
        {
            /// <summary>Counts the call's time from now again (a stream that just sent a chunk).</summary>
            public void Restart()
            {
                if (watch._calls.TryGetValue(id, out var call))
                {
                    watch._calls[id] = call with { Started = Stopwatch.GetTimestamp() };
                }
            }

            public void Dispose() => watch._calls.TryRemove(id, out _);
        }
    }
}
