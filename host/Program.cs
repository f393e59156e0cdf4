using PluginHost;
using PluginHost.Configuration;

try
{
    // Null when the command line asked for --help or --version, or ran keygen, sign or hash: answered on standard output.
    if (HostCommandLine.Parse(args) is not { } options)
    {
        return 0;
    }

    if (options.InlineIo)
    {
        // The runtime's half of --inline-io (Kestrel's is in Build): socket completions run on the socket event thread.
        // Read once, when the first socket is used, so it is set here, before anything opens one (processes this one
        // starts inherit it).
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
