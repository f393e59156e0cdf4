using System.Diagnostics;
using System.Threading.Channels;
using PluginHost.Configuration;
using PluginHost.Routing;

namespace PluginHost.Plugins;

/// <summary>
/// Watches the plugins folder and the configuration file and reloads after the changes settle. Builds write
/// many files, some of them partially: changes are debounced, and a reload that met a half-written assembly
/// is retried a bounded number of times. Changes come from file system events, or with
/// <see cref="PluginHostOptions.Poll"/> from a <see cref="ChangePoller"/> (no FileSystemWatcher is created then):
/// either way they feed the same debounce and reload.
/// </summary>
internal sealed partial class PluginWatcher(ProxyRuntime runtime, PluginHostOptions options, ILogger<PluginWatcher> logger) : BackgroundService
{
    private readonly Channel<bool> _changes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    private long _lastChange;
    private FileSystemWatcher? _pluginsWatcher;
    private FileSystemWatcher? _configWatcher;
    private ChangePoller? _poller;

    // The watch starts on the reload thread, which a stop can overtake: whichever comes second sees the other.
    private readonly Lock _watch = new();
    private bool _disposed;

    /// <summary>
    /// Creates the plugins folder now; the watch itself starts on the reload thread (<see cref="ExecuteAsync"/>), which
    /// runs when requests leave it the CPU, so setting it up does not delay the first answer.
    /// </summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(options.ResolvedPluginsDirectory);
        return base.StartAsync(cancellationToken);
    }

    private void StartWatching(CancellationToken stoppingToken)
    {
        lock (_watch)
        {
            if (_disposed || stoppingToken.IsCancellationRequested)
            {
                return;
            }

            var poll = options.Poll;
            if (!poll)
            {
                try
                {
                    _pluginsWatcher = Watch(options.ResolvedPluginsDirectory, "*", includeSubdirectories: true);
                    _configWatcher = Watch(Path.GetDirectoryName(options.ResolvedConfigPath)!, Path.GetFileName(options.ResolvedConfigPath), includeSubdirectories: false);
                    LogWatching(logger, options.ResolvedPluginsDirectory, options.ResolvedConfigPath);
                }
                catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
                {
                    // E.g. the user's inotify instances are used up: changes are still seen, by polling. (On this thread
                    // an exception would end the process, where in StartAsync it failed the start.)
                    _pluginsWatcher?.Dispose();
                    _pluginsWatcher = null;
                    LogWatchUnavailable(logger, ex, options.PollInterval.TotalSeconds);
                    poll = true;
                }
            }

            if (poll)
            {
                _poller = new ChangePoller(options.ResolvedPluginsDirectory, options.ResolvedConfigPath, options.PollInterval, Changed, ex => LogPollingFailed(logger, ex));
                LogPolling(logger, options.ResolvedPluginsDirectory, options.ResolvedConfigPath, options.PollInterval.TotalSeconds);
            }
        }

        // Catch up with anything that changed between the first load and the watch starting.
        _changes.Writer.TryWrite(true);
    }

    public override void Dispose()
    {
        lock (_watch)
        {
            _disposed = true;
            _pluginsWatcher?.Dispose();
            _configWatcher?.Dispose();
            _poller?.Dispose();
        }

        base.Dispose();
    }

    /// <summary>
    /// Reloads on one thread of its own, for the life of the host, at the lowest CPU priority: on a busy machine,
    /// hashing, loading and constructing a new version (its constructor thread inherits the priority) wait for
    /// the requests being served. No thread is created per reload.
    /// </summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            BackgroundPriority.LowerCurrentThread();
            StartWatching(stoppingToken);
            ReloadLoop(stoppingToken);
            stopped.TrySetResult();
        })
        {
            IsBackground = true,
            Name = "plugin-reload",
        };
        thread.Start();
        return stopped.Task;
    }

    private void ReloadLoop(CancellationToken stoppingToken)
    {
        var retries = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                _changes.Reader.ReadAsync(stoppingToken).AsTask().GetAwaiter().GetResult();
                Settle(stoppingToken);
                var transient = runtime.ReloadAsync(stoppingToken).GetAwaiter().GetResult();
                if (transient && retries < options.TransientRetries)
                {
                    retries++;
                    _ = RetryLaterAsync(TimeSpan.FromMilliseconds(100 * retries), stoppingToken);
                }
                else
                {
                    retries = 0;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogReloadFailed(logger, ex);
                if (retries++ < options.TransientRetries)
                {
                    _ = RetryLaterAsync(TimeSpan.FromMilliseconds(100 * retries), stoppingToken);
                }
            }
        }
    }

    /// <summary>Waits until no change has arrived for the debounce interval (counted from the last change).</summary>
    private void Settle(CancellationToken cancellationToken)
    {
        while (true)
        {
            // Consumed before the check: a change after it signals again and gets a reload of its own.
            _changes.Reader.TryRead(out _);
            var quiet = Stopwatch.GetElapsedTime(Volatile.Read(ref _lastChange));
            if (quiet >= options.WatchDebounce)
            {
                return;
            }

            cancellationToken.WaitHandle.WaitOne(options.WatchDebounce - quiet);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private async Task RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken);
            _changes.Writer.TryWrite(true);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private FileSystemWatcher Watch(string directory, string filter, bool includeSubdirectories)
    {
        var watcher = new FileSystemWatcher(directory, filter)
        {
            IncludeSubdirectories = includeSubdirectories,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            InternalBufferSize = 64 * 1024,
        };
        watcher.Changed += OnChange;
        watcher.Created += OnChange;
        watcher.Deleted += OnChange;
        watcher.Renamed += OnChange;
        watcher.Error += (_, e) =>
        {
            LogWatcherError(logger, e.GetException());
            Changed();
        };
        watcher.EnableRaisingEvents = true;
        return watcher;
    }

    private void OnChange(object sender, FileSystemEventArgs e) => Changed();

    private void Changed()
    {
        Volatile.Write(ref _lastChange, Stopwatch.GetTimestamp());
        _changes.Writer.TryWrite(true);
    }

    [LoggerMessage(200, LogLevel.Information, "Watching {Plugins} and {Config} for changes")]
    private static partial void LogWatching(ILogger logger, string plugins, string config);

    [LoggerMessage(201, LogLevel.Error, "Reload failed; the current snapshot keeps serving")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);

    [LoggerMessage(202, LogLevel.Warning, "File watcher error; reloading to catch up")]
    private static partial void LogWatcherError(ILogger logger, Exception exception);

    [LoggerMessage(203, LogLevel.Information, "Polling {Plugins} and {Config} for changes every {Seconds} s (no file system events)")]
    private static partial void LogPolling(ILogger logger, string plugins, string config, double seconds);

    [LoggerMessage(204, LogLevel.Warning, "Polling for changes failed; trying again at the next interval")]
    private static partial void LogPollingFailed(ILogger logger, Exception exception);

    [LoggerMessage(205, LogLevel.Warning, "File system events are not available; polling every {Seconds} s instead")]
    private static partial void LogWatchUnavailable(ILogger logger, Exception exception, double seconds);
}
