using System.Collections.Concurrent;
using PluginHost.Configuration;
using PluginHost.Telemetry;

namespace PluginHost.Plugins;

/// <summary>
/// Takes plugin versions out of service: each finishes its running requests (bounded by the drain timeout), then its
/// handlers are disposed, its load context unloaded and watched until the runtime collects it, or reported leaked.
/// Keeps the recent retired versions for status, and lets shutdown wait (bounded) for the unloads.
/// </summary>
internal sealed class PluginRetirement
{
    private const int HistoryLimit = 200;

    private readonly TimeSpan _drainTimeout;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<LoadedPlugin> _retired = new();
    private readonly ConcurrentDictionary<Task, byte> _unloads = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly UnloadMonitor _collections;
    private readonly PluginHostMetrics _metrics;

    public PluginRetirement(PluginHostOptions options, ILogger logger, PluginHostMetrics metrics)
    {
        _drainTimeout = options.DrainTimeout;
        _logger = logger;
        _metrics = metrics;
        _collections = new UnloadMonitor(options.UnloadTimeout, options.UnloadCheckInterval, options.UnloadSettle, _stopping.Token);
    }

    /// <summary>Retired plugin versions (draining, unloaded, leaked), newest last.</summary>
    public IEnumerable<LoadedPlugin> History => _retired;

    /// <summary>Stops new requests on <paramref name="plugin"/>; once drained, disposes and unloads it, then checks that it was collected.</summary>
    public void Retire(LoadedPlugin plugin)
    {
        plugin.Retire();
        _retired.Enqueue(plugin);
        while (_retired.Count > HistoryLimit && _retired.TryPeek(out var oldest) && oldest.State is PluginState.Unloaded or PluginState.Leaked)
        {
            _retired.TryDequeue(out _);
        }

        Log.PluginRetired(_logger, plugin.Name, plugin.Generation, plugin.InFlight);
        var task = UnloadWhenDrainedAsync(plugin);
        _unloads.TryAdd(task, 0);
        _ = task.ContinueWith(t => _unloads.TryRemove(t, out _), TaskScheduler.Default);
    }

    /// <summary>
    /// Waits, at most <paramref name="timeout"/>, for every retired version to drain and unload; then unloads the rest
    /// without waiting for their requests, and stops checking collections (nobody needs the verdict at exit).
    /// </summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await Task.WhenAll(_unloads.Keys).WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            // Requests still running after the shutdown timeout: unload anyway.
        }

        await _stopping.CancelAsync();
    }

    private async Task UnloadWhenDrainedAsync(LoadedPlugin plugin)
    {
        try
        {
            await plugin.Drained.WaitAsync(_drainTimeout, _stopping.Token);
        }
        catch (TimeoutException)
        {
            Log.DrainTimedOut(_logger, plugin.Name, plugin.Generation, plugin.InFlight);
        }
        catch (OperationCanceledException)
        {
            // Shutting down: unload now.
        }

        await plugin.UnloadAsync(ex => Log.DisposeFailed(_logger, plugin.Name, ex));

        // Confirming the collection is not part of the unload: shutdown waits for handlers to be disposed, not for the GC.
        _ = ConfirmCollectedAsync(plugin);
    }

    private async Task ConfirmCollectedAsync(LoadedPlugin plugin)
    {
        bool collected;
        try
        {
            collected = await _collections.WatchAsync(plugin.Context);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        // Report first, then publish the state: whoever sees the state can rely on the report being there.
        _metrics.PluginUnloaded(plugin.Name, collected);
        if (collected)
        {
            Log.PluginUnloaded(_logger, plugin.Name, plugin.Generation);
            plugin.MarkUnloaded();
        }
        else
        {
            var reason = LeakMessage(plugin);
            Log.PluginLeaked(_logger, plugin.Name, plugin.Generation, reason);
            plugin.MarkLeaked(reason);
        }
    }

    private static string LeakMessage(LoadedPlugin plugin) =>
        $"the load context of {plugin.Name} (generation {plugin.Generation}) is still alive after unload. Something still references the plugin: " +
        "a static field or cache of a shared type holding one of its objects, a thread or timer it started that never ended, " +
        "an event handler it registered on a host or framework object, or a serializer or TypeDescriptor cache of its types (e.g. Newtonsoft.Json).";
}
