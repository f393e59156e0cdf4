using PluginHost;
using PluginHost.Configuration;
using PluginHost.Telemetry;

try
{
    StartupTrace.Mark("main");
    // Null when the command line asked for --help or --version, answered on standard output.
    if (HostCommandLine.Parse(args) is not { } options)
    {
        return 0;
    }

    StartupTrace.Mark("command line");
    await using var app = PluginHostApplication.Build(options);
    await PluginHostApplication.StartAsync(app, options);
    StartupTrace.Mark("listening");
    await app.WaitForShutdownAsync();
    return 0;
}
catch (ConfigException ex)
{
    // A wrong flag or configuration: one line saying which, no stack trace.
    await Console.Error.WriteLineAsync($"PluginHost cannot start: {ex.Message}");
    return 2;
}
