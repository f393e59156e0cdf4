using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Plugins;
using PluginHost.Routing;

namespace PluginHost;

/// <summary>Builds the proxy: the command line, the plugins, Kestrel and the OpenAI routes.</summary>
internal static class PluginHostApplication
{
    public static WebApplication Build(string[] args, Action<ILoggingBuilder>? logging = null)
    {
        var options = PluginHostOptions.Parse(args);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(System.Net.IPAddress.Parse(options.Host == "localhost" ? "127.0.0.1" : options.Host), options.Port);
        });
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ProxyRuntime>();
        if (options.Watch)
        {
            builder.Services.AddHostedService<PluginWatcher>();
        }

        var app = builder.Build();

        // Load before listening: a bad first configuration fails startup with a message naming the file and key.
        app.Services.GetRequiredService<ProxyRuntime>().Initialize();
        app.MapOpenAiApi();
        return app;
    }
}
