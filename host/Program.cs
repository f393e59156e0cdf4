using PluginHost;
using PluginHost.Configuration;

try
{
    // Null when the command line asked for --help or --version, answered on standard output.
    if (HostCommandLine.Parse(args) is not { } options)
    {
        return 0;
    }

    await using var app = PluginHostApplication.Build(options);
    await PluginHostApplication.StartAsync(app, options);
    await app.WaitForShutdownAsync();
    return 0;
}
catch (ConfigException ex)
{
    // A wrong flag or configuration: one line saying which, no stack trace.
    await Console.Error.WriteLineAsync($"PluginHost cannot start: {ex.Message}");
    return 2;
}
