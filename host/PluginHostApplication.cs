using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Trace;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Plugins;
using PluginHost.Routing;
using PluginHost.StatusPage;
using PluginHost.Telemetry;

namespace PluginHost;

/// <summary>Builds the proxy: the command line, the plugins, Kestrel, telemetry and the OpenAI routes.</summary>
internal static class PluginHostApplication
{
    /// <summary>Builds the proxy from a command line; one that asks for <c>--help</c> is Program's to answer.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="logging">Configures logging further (tests collect the logs).</param>
    /// <param name="tracing">Turns tracing on and configures it further (tests add an in-memory exporter).</param>
    public static WebApplication Build(string[] args, Action<ILoggingBuilder>? logging = null, Action<TracerProviderBuilder>? tracing = null) =>
        Build(HostCommandLine.Parse(args, TextWriter.Null) ?? throw new ArgumentException("The command line asks for --help or --version, which Program answers.", nameof(args)), logging, tracing);

    public static WebApplication Build(PluginHostOptions options, Action<ILoggingBuilder>? logging = null, Action<TracerProviderBuilder>? tracing = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        AddConsoleLog(builder.Logging, options.LogFormat);
        if (!options.AccessLog)
        {
            builder.Logging.AddFilter("PluginHost.Access", LogLevel.None);
        }

        logging?.Invoke(builder.Logging);
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            options.Host.Bind(kestrel, options.Port);
        });
        // --inline-io: the request runs on the thread that read it, not on a thread-pool thread it is handed to.
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = options.InlineIo);
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ProxyRuntime>();
        builder.Services.AddSingleton(RouterState);
        builder.Services.AddSingleton<Router>();
        builder.Services.AddHostedService<RouterStateStartup>();
        builder.Services.AddSingleton<ResponseStore>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RequestHistory>();
        builder.AddPluginHostTelemetry(TelemetryOptions.From(builder.Configuration), tracing);
        if (options.Watch)
        {
            builder.Services.AddHostedService<PluginWatcher>();
        }

        StartupTrace.Mark("services added");
        var app = builder.Build();
        StartupTrace.Mark("container built");
        app.UsePluginHostTelemetry();
        StartupTrace.Mark("telemetry");

        // Load before listening: a bad first configuration fails startup with a message naming the file and key.
        app.Services.GetRequiredService<ProxyRuntime>().Initialize();
        StartupTrace.Mark("first snapshot");

        // The router state follows the first configuration: a reload cannot move it to (or off) another Redis.
        app.Services.GetRequiredService<IRouterState>();
        app.ObservePluginHost();
        app.MapOpenAiApi();
        app.MapStatusPage();
        StartupTrace.Mark("routes mapped");
        return app;
    }

    /// <summary>
    /// Where the router's state lives: in the Redis the first configuration's <c>router_settings</c> names, else in
    /// this process. The container disposes it (and its Redis connection) at shutdown.
    /// </summary>
    private static IRouterState RouterState(IServiceProvider services) =>
        services.GetRequiredService<ProxyRuntime>().Current.Config.Router.Redis is { } redis
            ? new RedisRouterState(redis, services.GetRequiredService<ILogger<RedisRouterState>>())
            : new InProcessRouterState();

    /// <summary>
    /// The console log, one line per entry: readable (UTC time, level, category, message) or, with
    /// <c>--log-format json</c>, one JSON object whose <c>State</c> holds the entry's fields, typed.
    /// </summary>
    private static void AddConsoleLog(ILoggingBuilder logging, LogFormat format)
    {
        const string Timestamp = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        if (format == LogFormat.Json)
        {
            logging.AddJsonConsole(json =>
            {
                json.UseUtcTimestamp = true;
                json.TimestampFormat = Timestamp.TrimEnd();
            });
            return;
        }

        logging.AddSimpleConsole(plain =>
        {
            plain.SingleLine = true;
            plain.UseUtcTimestamp = true;
            plain.TimestampFormat = Timestamp;
        });
    }

    /// <summary>
    /// Starts the proxy. An address it cannot listen on (a port in use, an address this machine does not have)
    /// is a <see cref="ConfigException"/> naming <c>--host</c> and <c>--port</c>, like any other wrong flag.
    /// </summary>
    public static async Task StartAsync(WebApplication app, PluginHostOptions options)
    {
        try
        {
            await app.StartAsync();
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            throw new CommandLineException("--port", $"--host {options.Host} --port {options.Port}: cannot listen there: {ex.Message}");
        }
    }
}
