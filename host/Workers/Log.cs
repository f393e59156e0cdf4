namespace PluginHost.Workers;

internal static partial class Log
{
    [LoggerMessage(60, LogLevel.Information, "Worker of plugin {Name} started (pid {Pid}, ready in {Milliseconds:0} ms)")]
    public static partial void WorkerStarted(ILogger logger, string name, int pid, double milliseconds);

    [LoggerMessage(61, LogLevel.Error, "Worker of plugin {Name} (pid {Pid}) died: {Exit}; {Crashes} crash(es) in a row, circuit open: {CircuitOpen}")]
    public static partial void WorkerDied(ILogger logger, string name, int pid, string? exit, int crashes, bool circuitOpen);

    [LoggerMessage(62, LogLevel.Information, "Worker of plugin {Name} (pid {Pid}) stopped")]
    public static partial void WorkerStopped(ILogger logger, string name, int pid);

    [LoggerMessage(EventId = 63, Message = "Worker {Name}[{Pid}]: {Line}")]
    public static partial void WorkerOutput(ILogger logger, LogLevel level, string name, int pid, string line);
}
