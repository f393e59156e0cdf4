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

    [LoggerMessage(302, LogLevel.Information, "Redis at {Endpoint} is reachable again: router state is shared again")]
    public static partial void RedisBack(ILogger logger, string endpoint);
}
