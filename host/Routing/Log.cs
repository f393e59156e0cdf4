namespace PluginHost.Routing;

internal static partial class Log
{
    [LoggerMessage(2, LogLevel.Error, "Plugin {Name} ({Path}) failed to load: {Error}")]
    public static partial void PluginLoadFailed(ILogger logger, string name, string path, string error);

    [LoggerMessage(3, LogLevel.Warning, "Configuration change rejected, the last good configuration keeps serving: {Error}")]
    public static partial void ConfigRejected(ILogger logger, string error);
}
