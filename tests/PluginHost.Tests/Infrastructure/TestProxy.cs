using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using OpenAI;
using OpenAI.Chat;
using OpenTelemetry.Trace;
using PluginHost.Routing;

namespace PluginHost.Tests.Infrastructure;

/// <summary>
/// The real proxy on Kestrel on a free port, with its own temporary folder holding the configuration and a
/// plugins folder populated from real compiled plugin builds.
/// </summary>
internal sealed class TestProxy : IAsyncDisposable
{
    public const string MasterKey = "sk-1234";

    private readonly WebApplication _app;

    private TestProxy(WebApplication app, string root, Uri baseAddress, TestLogs logs)
    {
        _app = app;
        Root = root;
        BaseAddress = baseAddress;
        Logs = logs;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", MasterKey);
    }

    /// <summary>The temporary folder: <c>plugins.yaml</c> and <c>plugins/</c>.</summary>
    public string Root { get; }

    public string ConfigPath => Path.Combine(Root, "plugins.yaml");

    public string PluginsDirectory => Path.Combine(Root, "plugins");

    public Uri BaseAddress { get; }

    /// <summary>An HttpClient with the master key.</summary>
    public HttpClient Http { get; }

    public TestLogs Logs { get; }

    public ProxyRuntime Runtime => _app.Services.GetRequiredService<ProxyRuntime>();

    /// <summary>
    /// Starts a proxy with <paramref name="yaml"/> as its configuration and the given plugin builds installed,
    /// each as <c>plugins/Name/</c>: pass <c>("Versioned", "Versioned.V1")</c> pairs or plain project names.
    /// </summary>
    public static Task<TestProxy> StartAsync(string yaml, IEnumerable<(string Name, string Build)> plugins, bool watch = false, params string[] extraArgs) =>
        StartAsync(yaml, plugins, tracing: null, watch, extraArgs);

    /// <summary>Starts a proxy whose spans go to <paramref name="spans"/> (tracing on, as with an OTLP endpoint, but in memory).</summary>
    public static Task<TestProxy> StartTracedAsync(string yaml, ExportedSpans spans, params string[] plugins) =>
        StartAsync(yaml, plugins.Select(p => (p, p)), tracing => tracing.AddInMemoryExporter(spans));

    /// <summary>As <see cref="StartAsync(string, IEnumerable{ValueTuple{string, string}}, bool, string[])"/>, with <paramref name="tracing"/> turning tracing on and configuring it.</summary>
    public static async Task<TestProxy> StartAsync(string yaml, IEnumerable<(string Name, string Build)> plugins, Action<TracerProviderBuilder>? tracing, bool watch = false, params string[] extraArgs)
    {
        var root = Path.Combine(Path.GetTempPath(), "pluginhost-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        await File.WriteAllTextAsync(Path.Combine(root, "plugins.yaml"), yaml);
        foreach (var (name, build) in plugins)
        {
            InstallPlugin(Path.Combine(root, "plugins"), name, build);
        }

        var logs = new TestLogs();
        string[] args = ["--config", Path.Combine(root, "plugins.yaml"), "--port", "0", "--host", "127.0.0.1", "--access-log", .. watch ? Array.Empty<string>() : ["--no-watch"], .. extraArgs];
        WebApplication app;
        try
        {
            app = PluginHostApplication.Build(
                args,
                logging =>
                {
                    logging.ClearProviders();
                    logging.AddProvider(logs);
                },
                tracing);
        }
        catch
        {
            // A configuration the test expects to fail: leave no folder behind.
            Directory.Delete(root, recursive: true);
            throw;
        }

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestProxy(app, root, new Uri(address), logs);
    }

    public static Task<TestProxy> StartAsync(string yaml, params string[] plugins) =>
        StartAsync(yaml, plugins.Select(p => (p, p)));

    /// <summary>
    /// Copies a built plugin (its whole output folder) into <c>plugins/<paramref name="name"/>/</c>, overwriting in
    /// place; a name ending in <c>.dll</c> installs just the assembly as a single file <c>plugins/Name.dll</c>.
    /// </summary>
    public static void InstallPlugin(string pluginsDirectory, string name, string build)
    {
        var source = Directory.Exists(TestPaths.TestPlugin(build)) ? TestPaths.TestPlugin(build) : TestPaths.SamplePlugin(build);
        if (name.EndsWith(".dll", StringComparison.Ordinal))
        {
            var assembly = Directory.EnumerateFiles(source, "*.deps.json").Select(f => Path.GetFileName(f)[..^".deps.json".Length]).Single();
            File.Copy(Path.Combine(source, assembly + ".dll"), Path.Combine(pluginsDirectory, name), overwrite: true);
            return;
        }

        var target = Path.Combine(pluginsDirectory, name);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source))
        {
            if (file.EndsWith(".dll", StringComparison.Ordinal) || file.EndsWith(".deps.json", StringComparison.Ordinal))
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
            }
        }
    }

    /// <summary>An OpenAI .NET SDK chat client for <paramref name="model"/>, pointed at this proxy's /v1.</summary>
    public ChatClient Chat(string model, string key = MasterKey) => OpenAi(key).GetChatClient(model);

    /// <summary>
    /// An OpenAI .NET SDK client pointed at this proxy's /v1. It does not retry, so a test of an error status
    /// sees the proxy's first answer (the SDK retries 408, 429 and 5xx by default, with back-off).
    /// </summary>
    public OpenAIClient OpenAi(string key = MasterKey) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(BaseAddress, "v1"), RetryPolicy = new ClientRetryPolicy(maxRetries: 0) });

    /// <summary>Posts <paramref name="body"/> as it is (no JSON validation on the client side) to <paramref name="path"/>.</summary>
    public async Task<HttpResponseMessage> PostAsync(string path, string body, string contentType = "application/json", HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, System.Text.Encoding.UTF8, contentType) };
        return await Http.SendAsync(request, completion, cancellationToken);
    }

    /// <summary>Rebuilds the snapshot from disk now (for tests that run without the watcher).</summary>
    public Task ReloadAsync() => Runtime.ReloadAsync();

    /// <summary>Waits (bounded) until the current snapshot satisfies <paramref name="condition"/>, checking each time one is replaced.</summary>
    public async Task<ProxySnapshot> WaitForSnapshotAsync(Func<ProxySnapshot, bool> condition, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        var snapshot = Runtime.Current;
        while (!condition(snapshot))
        {
            var replaced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (snapshot.ChangeToken.RegisterChangeCallback(_ => replaced.TrySetResult(), null))
            {
                try
                {
                    await replaced.Task.WaitAsync(deadline.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException("The expected snapshot never came. Proxy log:\n" + string.Join("\n", Logs.Lines));
                }
            }

            snapshot = Runtime.Current;
        }

        return snapshot;
    }

    /// <summary>Starts a graceful shutdown (what Ctrl+C does).</summary>
    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
