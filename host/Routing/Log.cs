namespace PluginHost.Routing;

internal static partial class Log
{
    [LoggerMessage(2, LogLevel.Error, "Plugin {Name} ({Path}) failed to load: {Error}")]
    public static partial void PluginLoadFailed(ILogger logger, string name, string path, string error);

    [LoggerMessage(3, LogLevel.Warning, "Configuration change rejected, the last good configuration keeps serving: {Error}")]
    public static partial void ConfigRejected(ILogger logger, string error);

    [LoggerMessage(300, LogLevel.Information, "Router state is shared in Redis at {Endpoint}")]
    public static partial void RedisConnected(ILogger logger, string endpoint);

    [LoggerMessage(301, LogLevel.Warning, "Redis at {Endpoint} is unreachable ({Error}): cooldowns and rpm/tpm limits are this instance's own until it returns")]
    public static partial void RedisLost(ILogger logger, string endpoint, string error);

    [LoggerMessage(303, LogLevel.Warning, "router_settings now name {Named} for the router state; it stays {InUse} until the proxy restarts (the rest of the configuration is applied)")]
    public static partial void RedisNeedsRestart(ILogger logger, string named, string inUse);

    [LoggerMessage(302, LogLevel.Information, "Redis at {Endpoint} is reachable again: router state is shared again")]
    public static partial void RedisBack(ILogger logger, string endpoint);
}
