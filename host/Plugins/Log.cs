namespace PluginHost.Plugins;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Loaded plugin {Name} {Version} (generation {Generation}) from {Path} in {Milliseconds:0.0} ms")]
    public static partial void PluginLoaded(ILogger logger, string name, string version, long generation, string path, double milliseconds);

    [LoggerMessage(4, LogLevel.Information, "Retired plugin {Name} generation {Generation} with {InFlight} requests still running")]
    public static partial void PluginRetired(ILogger logger, string name, long generation, int inFlight);

    [LoggerMessage(5, LogLevel.Warning, "Plugin {Name} generation {Generation} did not drain in time; unloading with {InFlight} requests still running")]
    public static partial void DrainTimedOut(ILogger logger, string name, long generation, int inFlight);

    [LoggerMessage(6, LogLevel.Warning, "Disposing a handler of plugin {Name} threw")]
    public static partial void DisposeFailed(ILogger logger, string name, Exception exception);

    [LoggerMessage(7, LogLevel.Information, "Plugin {Name} generation {Generation} unloaded and collected")]
    public static partial void PluginUnloaded(ILogger logger, string name, long generation);

    [LoggerMessage(8, LogLevel.Error, "Plugin {Name} generation {Generation} leaked: {Message}")]
    public static partial void PluginLeaked(ILogger logger, string name, long generation, string message);

    [LoggerMessage(9, LogLevel.Warning, "{Problem}")]
    public static partial void PluginIgnored(ILogger logger, string problem);

    [LoggerMessage(10, LogLevel.Warning, "Refused plugin {Name} from {Path}, SHA-256 {Sha256}: {Reason}")]
    public static partial void PluginRefused(ILogger logger, string name, string path, string sha256, string reason);
}
