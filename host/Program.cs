using PluginHost;
using PluginHost.Configuration;
using PluginHost.Telemetry;

// The hidden worker mode: the proxy runs one isolated plugin in a process of its own (host/Workers).
if (args is [PluginHost.Workers.WorkerProgram.Command, ..])
{
    return await PluginHost.Workers.WorkerProgram.RunAsync(args[1..]);
}

try
{
    StartupTrace.Mark("main");
    // Null when the command line asked for --help or --version, or ran keygen, sign or hash: answered on standard output.
    if (HostCommandLine.Parse(args) is not { } options)
    {
        return 0;
    }

    StartupTrace.Mark("command line");

    if (options.InlineIo)
    {
        // The runtime's half of --inline-io (Kestrel's is in Build): socket completions run on the socket event thread.
        // Read once, when the first socket is used, so it is set here, before anything opens one (worker processes
        // do not inherit it: a handler that blocks there would stall its worker).
        Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
    }

    var app = PluginHostApplication.Build(options);
    try
    {
        await PluginHostApplication.StartAsync(app, options);
    }
    catch
    {
        await app.DisposeAsync();
        throw;
    }

    StartupTrace.Mark("listening");

    // Ends the process (0, or 3/4 when a plugin held up the stop), even if a plugin left foreground threads behind.
    return await ProcessShutdown.RunAsync(app, options.ShutdownTimeout);
}
catch (ToolCommandException ex)
{
    await Console.Error.WriteLineAsync($"pluginhost {ex.Message}");
    return 1;
}
catch (ConfigException ex)
{
    // A wrong flag or configuration: one line saying which, no stack trace.
    await Console.Error.WriteLineAsync(HostCommandLine.IsToolCommand(args) ? $"pluginhost {args[0]}: {ex.Message}" : $"PluginHost cannot start: {ex.Message}");
    return 2;
}
