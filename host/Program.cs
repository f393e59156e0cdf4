using PluginHost;
using PluginHost.Configuration;

// The hidden worker mode: the proxy runs one isolated plugin in a process of its own (host/Workers).
if (args is [PluginHost.Workers.WorkerProgram.Command, ..])
{
    return await PluginHost.Workers.WorkerProgram.RunAsync(args[1..]);
}

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
