using System.Runtime.CompilerServices;
using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Telemetry;

namespace PluginHost.Routing;

/// <summary>
/// Owns the current <see cref="ProxySnapshot"/> and leases its handlers to requests. A reload reads the
/// configuration, has <see cref="PluginFolder"/> load the plugins folder (reusing unchanged versions),
/// has <see cref="SnapshotBuilder"/> build a new snapshot beside the current one, swaps it in atomically with
/// how the reload went, and hands what the new one no longer uses to <see cref="PluginRetirement"/>, which
/// drains, unloads and checks it. A bad reload keeps the last good parts.
/// </summary>
internal sealed class ProxyRuntime : IAsyncDisposable
{
    private readonly PluginHostOptions _options;
    private readonly ILogger<ProxyRuntime> _logger;
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private readonly PluginRetirement _retirement;
    private readonly PluginFolder _folder;
    private readonly PluginHostMetrics _metrics;
    private ProxySnapshot? _current;
    private long _generation;

    // The Redis the router state uses (chosen from the first configuration), and the last other one a reload named.
    private string _redisInUse = NoRedis;
    private string _redisWarnedFor = NoRedis;
    private const string NoRedis = "no Redis";

    public ProxyRuntime(PluginHostOptions options, ILogger<ProxyRuntime> logger, PluginHostMetrics? metrics = null)
    {
        _options = options;
        _logger = logger;
        _metrics = metrics ?? new PluginHostMetrics(new System.Diagnostics.Metrics.Meter(PluginHostMetrics.MeterName));
        _retirement = new PluginRetirement(options, logger, _metrics);
        _folder = new PluginFolder(options.ResolvedPluginsDirectory, options.ConstructorTimeout, NextGeneration, _retirement, logger, _metrics);
    }

    public PluginHostOptions Options => _options;

    /// <summary>The snapshot requests use now; its <see cref="ProxySnapshot.ChangeToken"/> fires when a reload replaces it.</summary>
    public ProxySnapshot Current => Volatile.Read(ref _current) ?? throw new InvalidOperationException("The proxy has not loaded its configuration yet.");

    /// <summary>The current snapshot, or null before the first load and after shutdown (for metrics read at any time).</summary>
    public ProxySnapshot? Loaded => Volatile.Read(ref _current);

    /// <summary>Retired plugin versions (draining, unloaded, leaked), newest last.</summary>
    public IEnumerable<LoadedPlugin> Retired => _retirement.History;

    /// <summary>
    /// Loads the first snapshot. Configuration mistakes throw <see cref="ConfigException"/> (startup fails);
    /// a plugin that fails to load fails only its own models.
    /// </summary>
    public void Initialize()
    {
        using var span = HostSpans.StartReload(initial: true);
        var config = ConfigReader.ReadFile(_options.ResolvedConfigPath);
        _redisInUse = _redisWarnedFor = RedisOf(config);
        StartupTrace.Mark("configuration read");
        var plugins = _folder.Load([], config);
        StartupTrace.Mark("plugin assemblies loaded");
        var snapshot = Build(config, plugins, configError: null, strict: true);
        foreach (var failure in plugins.Failures)
        {
            Log.PluginLoadFailed(_logger, failure.Name, failure.File, failure.Error);
        }

        HostSpans.EndReload(span, snapshot, configError: null, plugins.Failures.Count);
        _metrics.Reloaded(configError: null, plugins.Failures.Count);

        var unavailable = snapshot.Models.SelectMany(m => m.Routes.Where(r => r.Unavailable is not null).Select(r => $"{m.Name}: {r.Unavailable}")).ToList();
        if (config.RequireHandlers && unavailable.Count > 0)
        {
            RetireAll(snapshot);
            throw new ConfigException($"{config.SourceFile}: general_settings.require_handlers is true and some handlers cannot serve: {string.Join("; ", unavailable)}");
        }

        Swap(snapshot, previous: null);
    }

    /// <summary>
    /// Rebuilds the snapshot from disk. Returns whether a plugin failed with an error that may pass
    /// (a file still being written), so the caller can try again shortly.
    /// </summary>
    public async Task<bool> ReloadAsync(CancellationToken cancellationToken = default)
    {
        await _reloadLock.WaitAsync(cancellationToken);
        var span = HostSpans.StartReload(initial: false);
        try
        {
            var previous = Current;
            var config = previous.Config;
            string? configError = null;
            try
            {
                config = ConfigReader.ReadFile(_options.ResolvedConfigPath);
            }
            catch (ConfigException ex)
            {
                configError = ex.Message;
            }

            var plugins = _folder.Load(previous.Plugins, config);
            ProxySnapshot snapshot;
            if (configError is null && config.ContentHash != previous.Config.ContentHash)
            {
                try
                {
                    snapshot = Build(config, plugins, configError: null, strict: true);
                }
                catch (ConfigException ex)
                {
                    // The plugins were loaded for the rejected configuration: load them again for the previous one (only
                    // mapped plugins load), reusing what is loaded, and retire what only the rejected one loaded.
                    configError = ex.Message;
                    var forRejected = plugins;
                    plugins = _folder.Load([.. forRejected.Plugins, .. previous.Plugins], previous.Config);
                    foreach (var plugin in forRejected.Plugins)
                    {
                        if (!plugins.Plugins.Contains(plugin) && !previous.Plugins.Contains(plugin))
                        {
                            _retirement.Retire(plugin);
                        }
                    }

                    snapshot = Build(previous.Config, plugins, configError, strict: false);
                }
            }
            else
            {
                snapshot = Build(config, plugins, configError, strict: false);
            }

            if (configError is not null)
            {
                Log.ConfigRejected(_logger, configError);
            }
            else if (RedisOf(config) is var named && named != _redisWarnedFor)
            {
                // Said once per change: the rest of the configuration applies, the router state stays where it is.
                _redisWarnedFor = named;
                if (named != _redisInUse)
                {
                    Log.RedisNeedsRestart(_logger, named, _redisInUse == NoRedis ? "in this process" : $"in {_redisInUse}");
                }
            }

            foreach (var failure in plugins.Failures)
            {
                Log.PluginLoadFailed(_logger, failure.Name, failure.File, failure.Error);
            }

            Swap(snapshot, previous);
            HostSpans.EndReload(span, snapshot, configError, plugins.Failures.Count);
            _metrics.Reloaded(configError, plugins.Failures.Count);
            return plugins.Transient;
        }
        finally
        {
            span?.Dispose();
            _reloadLock.Release();
        }
    }

    /// <summary>
    /// Leases the handler for <paramref name="model"/>: the plugin version cannot be unloaded until the lease
    /// is disposed. A plugin retired between reading the snapshot and leasing it is skipped for the new one.
    /// </summary>
    public LeaseResult TryLease(string model, out HandlerLease lease)
    {
        for (var attempt = 0; ; attempt++)
        {
            var snapshot = Current;
            if (!snapshot.ModelsByName.TryGetValue(model, out var group))
            {
                lease = default;
                return LeaseResult.UnknownModel;
            }

            var route = group.Next();
            if (route.Binding is not { } binding)
            {
                lease = new HandlerLease(route, null);
                return LeaseResult.Unavailable;
            }

            if (binding.Plugin.TryAcquire())
            {
                lease = new HandlerLease(route, binding);
                return LeaseResult.Leased;
            }

            if (attempt > 1000)
            {
                lease = new HandlerLease(route with { Binding = null, Unavailable = $"handler {binding.HandlerName} is being replaced" }, null);
                return LeaseResult.Unavailable;
            }

            Thread.Yield();
        }
    }

    /// <summary>
    /// Builds a snapshot of <paramref name="config"/> over <paramref name="plugins"/>, after creating the handlers it maps
    /// that do not exist yet. With <paramref name="strict"/> a configuration mistake throws <see cref="ConfigException"/>.
    /// </summary>
    private ProxySnapshot Build(ProxyConfig config, PluginSet plugins, string? configError, bool strict) =>
        SnapshotBuilder.Build(NextGeneration(), config, PluginFolder.CreateHandlers(plugins, config), new ReloadStatus(DateTimeOffset.UtcNow, configError), strict);

    /// <summary>Numbers plugin versions and snapshots, in one sequence.</summary>
    private long NextGeneration() => Interlocked.Increment(ref _generation);

    private static string RedisOf(ProxyConfig config) => config.Router.Redis is { } redis ? $"Redis at {redis.Display}" : NoRedis;

    /// <summary>Publishes <paramref name="snapshot"/>, retires the plugin versions it no longer uses, then tells who waits on the previous one.</summary>
    private void Swap(ProxySnapshot snapshot, ProxySnapshot? previous)
    {
        Volatile.Write(ref _current, snapshot);
        if (previous is null)
        {
            return;
        }

        foreach (var plugin in previous.Plugins)
        {
            if (!snapshot.Plugins.Contains(plugin))
            {
                _retirement.Retire(plugin);
            }
        }

        previous.SignalReplaced();
    }

    /// <summary>Retires every plugin of the current snapshot and waits (bounded) for them to drain and unload.</summary>
    public async ValueTask DisposeAsync()
    {
        RetireAll();
        await _retirement.StopAsync(_options.ShutdownTimeout);

        // No worker process outlives the proxy, even one whose version had not finished draining.
        await Task.WhenAll(_retirement.History.Select(p => p.Worker?.StopAsync() ?? Task.CompletedTask));
        _reloadLock.Dispose();
    }

    /// <summary>Drops the snapshot (it holds the handlers, and with them their load contexts) and retires its plugins.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RetireAll(ProxySnapshot? snapshot = null)
    {
        var current = snapshot ?? Interlocked.Exchange(ref _current, null);
        foreach (var plugin in current?.Plugins ?? [])
        {
            _retirement.Retire(plugin);
        }
    }
}

internal enum LeaseResult
{
    Leased,
    UnknownModel,
    Unavailable,
}

/// <summary>A request's hold on a plugin version; dispose it when the request (or stream) ends.</summary>
internal readonly struct HandlerLease(ModelRoute route, HandlerBinding? binding) : IDisposable
{
    public ModelRoute Route { get; } = route;

    public HandlerBinding? Binding { get; } = binding;

    public void Dispose() => Binding?.Plugin.Release();
}
