namespace PluginHost.Routing;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Loaded plugin {Name} {Version} (generation {Generation}) from {Path} in {Milliseconds:0.0} ms")]
    public static partial void PluginLoaded(ILogger logger, string name, string version, long generation, string path, double milliseconds);

    [LoggerMessage(2, LogLevel.Error, "Plugin {Name} ({Path}) failed to load: {Error}")]
    public static partial void PluginLoadFailed(ILogger logger, string name, string path, string error);

    [LoggerMessage(3, LogLevel.Warning, "Configuration change rejected, the last good configuration keeps serving: {Error}")]
    public static partial void ConfigRejected(ILogger logger, string error);

    [LoggerMessage(9, LogLevel.Warning, "{Problem}")]
    public static partial void PluginIgnored(ILogger logger, string problem);
}
