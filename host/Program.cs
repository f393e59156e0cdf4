using PluginHost;
using PluginHost.Configuration;

try
{
    await using var app = PluginHostApplication.Build(args);
    await app.RunAsync();
    return 0;
}
catch (ConfigException ex)
{
    await Console.Error.WriteLineAsync($"PluginHost cannot start: {ex.Message}");
    return 2;
}
