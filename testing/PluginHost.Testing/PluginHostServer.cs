using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;
using OpenAI.Chat;
using PluginHost.Configuration;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.Testing;

/// <summary>
/// The real proxy, in this process, listening on a free loopback port, with its own temporary folder holding the
/// configuration and the plugins: a request goes through the same pipeline as in production (auth, routing,
/// limits, the handler in its own load context, the OpenAI wire format). Dispose it to stop it and delete the folder.
/// </summary>
/// <example>
/// <code>
/// await using var proxy = await PluginHostServer.StartAsync&lt;MyHandler&gt;("my-model");
/// var answer = await proxy.GetChatClient("my-model").CompleteChatAsync("Hello");
/// </code>
/// </example>
public sealed class PluginHostServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly LogCollector _logs;
    private readonly List<HttpClient> _clients = [];

    private PluginHostServer(WebApplication app, string root, Uri baseAddress, string? apiKey, LogCollector logs)
    {
        _app = app;
        RootDirectory = root;
        BaseAddress = baseAddress;
        ApiKey = apiKey;
        _logs = logs;
    }

    /// <summary>The proxy's address, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The OpenAI-compatible endpoint (<c>BaseAddress/v1/</c>): what <c>OPENAI_BASE_URL</c> would be.</summary>
    public Uri OpenAIEndpoint => new(BaseAddress, "v1/");

    /// <summary>The key clients made here send, if any.</summary>
    public string? ApiKey { get; }

    /// <summary>The temporary folder: <c>plugins.yaml</c> and <c>plugins/</c>.</summary>
    public string RootDirectory { get; }

    /// <summary>The configuration file the proxy reads.</summary>
    public string ConfigPath => Path.Combine(RootDirectory, "plugins.yaml");

    /// <summary>The plugins folder the proxy loads from (write a new build here and call <see cref="ReloadAsync"/>).</summary>
    public string PluginsDirectory => Path.Combine(RootDirectory, "plugins");

    /// <summary>The proxy's log lines so far (information and up, its own categories).</summary>
    public IReadOnlyList<string> LogLines => _logs.Snapshot();

    /// <summary>Starts a proxy serving <typeparamref name="THandler"/> as the model <paramref name="model"/>.</summary>
    public static Task<PluginHostServer> StartAsync<THandler>(string model)
        where THandler : CustomLlm
    {
        var options = new PluginHostServerOptions();
        options.Handlers.Add(typeof(THandler));
        options.Models[typeof(THandler)] = model;
        return StartAsync(options);
    }

    /// <summary>
    /// Starts a proxy with <paramref name="options"/>. A configuration the proxy refuses throws
    /// <see cref="InvalidOperationException"/> with its message; so does a plugin that cannot load, unless
    /// <see cref="PluginHostServerOptions.RequireHealthy"/> is off.
    /// </summary>
    public static async Task<PluginHostServer> StartAsync(PluginHostServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var root = Path.Combine(Path.GetTempPath(), "pluginhost-testing", Guid.NewGuid().ToString("N")[..12]);
        var plugins = Path.Combine(root, "plugins");
        Directory.CreateDirectory(plugins);
        var logs = new LogCollector();
        WebApplication? app = null;
        var started = false;
        try
        {
            foreach (var handler in options.Handlers)
            {
                InstallHandlerAssembly(plugins, handler);
            }

            foreach (var assembly in options.PluginAssemblies)
            {
                InstallPluginBuild(plugins, assembly);
            }

            await File.WriteAllTextAsync(Path.Combine(root, "plugins.yaml"), options.Config ?? DefaultConfig(options), cancellationToken).ConfigureAwait(false);
            string[] args =
            [
                "--config", Path.Combine(root, "plugins.yaml"),
                "--host", "127.0.0.1",
                "--port", "0",
                .. options.Watch ? Array.Empty<string>() : ["--no-watch"],
                .. options.Arguments,
            ];
            try
            {
                app = PluginHostApplication.Build(args, logging =>
                {
                    logging.ClearProviders();
                    logging.AddProvider(logs);
                    options.ConfigureLogging?.Invoke(logging);
                });
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ConfigException ex)
            {
                throw new InvalidOperationException($"The proxy cannot start: {ex.Message}", ex);
            }

            if (options.RequireHealthy && Problems(app) is { Count: > 0 } problems)
            {
                throw new InvalidOperationException($"The proxy started, but not everything it was given can serve:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", problems)}{Environment.NewLine}Proxy log:{Environment.NewLine}{string.Join(Environment.NewLine, logs.Snapshot())}");
            }

            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var server = new PluginHostServer(app, root, new Uri(address.TrimEnd('/') + "/"), options.ApiKey, logs);
            started = true;
            return server;
        }
        finally
        {
            if (!started)
            {
                if (app is not null)
                {
                    await app.DisposeAsync().ConfigureAwait(false);
                }

                TryDelete(root);
            }
        }
    }

    /// <summary>An <see cref="HttpClient"/> for the proxy (base address set, the API key sent); disposed with the server.</summary>
    public HttpClient CreateClient()
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(100) };
        if (ApiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        }

        lock (_clients)
        {
            _clients.Add(client);
        }

        return client;
    }

    /// <summary>
    /// An OpenAI .NET SDK client for the proxy. It does not retry, so a test of an error sees the proxy's first answer.
    /// </summary>
    public OpenAIClient CreateOpenAIClient() =>
        new(new ApiKeyCredential(ApiKey ?? "no-key"), new OpenAIClientOptions { Endpoint = OpenAIEndpoint, RetryPolicy = new ClientRetryPolicy(maxRetries: 0) });

    /// <summary>An OpenAI .NET SDK chat client for <paramref name="model"/> on the proxy.</summary>
    public ChatClient GetChatClient(string model) => CreateOpenAIClient().GetChatClient(model);

    /// <summary>Reloads the plugins folder and the configuration now, as the watcher would on a change.</summary>
    public Task ReloadAsync() => _app.Services.GetRequiredService<ProxyRuntime>().ReloadAsync();

    /// <summary>Stops the proxy (letting requests finish) and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }

            _clients.Clear();
        }

        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        TryDelete(RootDirectory);
    }

    /// <summary>One model per handler type, each through a provider of its own.</summary>
    private static string DefaultConfig(PluginHostServerOptions options)
    {
        if (options.Handlers.Count == 0)
        {
            throw new InvalidOperationException("Give PluginHostServerOptions.Config, or at least one handler type in PluginHostServerOptions.Handlers.");
        }

        var models = new StringBuilder("model_list:\n");
        var providers = new StringBuilder("litellm_settings:\n  custom_provider_map:\n");
        for (var i = 0; i < options.Handlers.Count; i++)
        {
            var handler = options.Handlers[i];
            var model = options.Models.TryGetValue(handler, out var name) ? name : handler.Name;
            var provider = string.Create(CultureInfo.InvariantCulture, $"handler-{i}");
            models.Append(CultureInfo.InvariantCulture, $"  - model_name: {Quote(model)}\n    litellm_params:\n      model: {Quote(provider + "/" + model)}\n");
            providers.Append(CultureInfo.InvariantCulture, $"    - provider: {provider}\n      custom_handler: {Quote(handler.Assembly.GetName().Name + ":" + handler.FullName)}\n");
        }

        return models.Append(providers).ToString();
    }

    private static string Quote(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>Copies a handler type's assembly (and its symbols) as <c>plugins/Name/Name.dll</c>.</summary>
    private static void InstallHandlerAssembly(string plugins, Type handler)
    {
        if (!typeof(CustomLlm).IsAssignableFrom(handler) || handler.IsAbstract)
        {
            throw new ArgumentException($"{handler.FullName} is not a concrete CustomLlm subclass.", nameof(handler));
        }

        var source = handler.Assembly.Location;
        if (string.IsNullOrEmpty(source))
        {
            throw new ArgumentException($"{handler.Assembly.GetName().Name} was not loaded from a file; pass its built DLL in PluginHostServerOptions.PluginAssemblies.", nameof(handler));
        }

        var name = Path.GetFileNameWithoutExtension(source);
        var target = Path.Combine(plugins, name);
        Directory.CreateDirectory(target);
        File.Copy(source, Path.Combine(target, name + ".dll"), overwrite: true);
        var symbols = Path.ChangeExtension(source, ".pdb");
        if (File.Exists(symbols))
        {
            File.Copy(symbols, Path.Combine(target, name + ".pdb"), overwrite: true);
        }
    }

    /// <summary>Copies a built plugin (the assembly and the files of its build folder) as <c>plugins/Name/</c>.</summary>
    private static void InstallPluginBuild(string plugins, string assembly)
    {
        var source = Path.GetFullPath(assembly);
        if (!File.Exists(source))
        {
            throw new FileNotFoundException($"The plugin assembly {source} does not exist; build it first.", source);
        }

        var name = Path.GetFileNameWithoutExtension(source);
        var target = Path.Combine(plugins, name);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(Path.GetDirectoryName(source)!))
        {
            var fileName = Path.GetFileName(file);
            // The SDK is the proxy's: a copy beside the plugin (a build that forgot the SDK package) would be ignored anyway.
            if (fileName.StartsWith("PluginHost.Sdk.", StringComparison.Ordinal) && !fileName.StartsWith("PluginHost.Sdk.AI.", StringComparison.Ordinal))
            {
                continue;
            }

            File.Copy(file, Path.Combine(target, fileName), overwrite: true);
        }
    }

    /// <summary>Plugins that failed to load and models with no handler to serve them, as readiness reports them.</summary>
    private static List<string> Problems(WebApplication app)
    {
        var snapshot = app.Services.GetRequiredService<ProxyRuntime>().Current;
        var problems = snapshot.Failures.Select(f => $"plugin {f.Name}: {f.Error}").ToList();
        foreach (var model in snapshot.Models)
        {
            problems.AddRange(model.Routes.Where(r => r.Unavailable is not null).Select(r => $"model {model.Name}: {r.Unavailable}"));
        }

        return problems;
    }

    private static void TryDelete(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Keeps the proxy's own log lines.</summary>
    private sealed class LogCollector : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyList<string> Snapshot() => [.. _lines];

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(LogCollector owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && category.StartsWith("PluginHost", StringComparison.Ordinal);

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    owner._lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
                }
            }
        }
    }
}
