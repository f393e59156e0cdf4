using System.Runtime.CompilerServices;
using PluginHost.Configuration;
using PluginHost.Plugins;

namespace PluginHost.Routing;

/// <summary>
/// Owns the current <see cref="ProxySnapshot"/>. A reload reads the configuration and the plugins folder,
/// builds a new snapshot beside the current one (reusing unchanged plugin versions), swaps it in atomically,
/// and retires what the new one no longer uses: retired plugins finish their requests, then are disposed,
/// unloaded and watched until the runtime collects them. A bad reload keeps the last good parts.
/// </summary>
internal sealed class ProxyRuntime : IAsyncDisposable
{
    private readonly PluginHostOptions _options;
    private readonly ILogger<ProxyRuntime> _logger;
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private readonly PluginRetirement _retirement;
    private readonly PluginFolder _folder;
    private ProxySnapshot? _current;
    private long _generation;

    public ProxyRuntime(PluginHostOptions options, ILogger<ProxyRuntime> logger)
    {
        _options = options;
        _logger = logger;
        _retirement = new PluginRetirement(options, logger);
        _folder = new PluginFolder(options.ResolvedPluginsDirectory, options.ConstructorTimeout, NextGeneration, _retirement, logger);
    }

    public PluginHostOptions Options => _options;

    /// <summary>The snapshot requests use now.</summary>
    public ProxySnapshot Current => Volatile.Read(ref _current) ?? throw new InvalidOperationException("The proxy has not loaded its configuration yet.");

    /// <summary>The last configuration error of a reload, cleared by a good one.</summary>
    public string? ConfigError { get; private set; }

    public DateTimeOffset? LastReloadAt { get; private set; }

    /// <summary>Retired plugin versions (draining, unloaded, leaked), newest last.</summary>
    public IEnumerable<LoadedPlugin> Retired => _retirement.History;

    /// <summary>Raised after every swap (tests and status use it to wait for a reload).</summary>
    public event Action<ProxySnapshot>? Swapped;

    /// <summary>
    /// Loads the first snapshot. Configuration mistakes throw <see cref="ConfigException"/> (startup fails);
    /// a plugin that fails to load fails only its own models.
    /// </summary>
    public void Initialize()
    {
        var config = ConfigReader.ReadFile(_options.ResolvedConfigPath);
        var result = _folder.Load([], config);
        var snapshot = BuildSnapshot(config, result, strict: true);
        foreach (var failure in result.Failures)
        {
            Log.PluginLoadFailed(_logger, failure.Name, failure.File, failure.Error);
        }

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

            var result = _folder.Load(previous.Plugins, config);
            ProxySnapshot snapshot;
            if (configError is null && config.ContentHash != previous.Config.ContentHash)
            {
                try
                {
                    snapshot = BuildSnapshot(config, result, strict: true);
                }
                catch (ConfigException ex)
                {
                    configError = ex.Message;
                    snapshot = BuildSnapshot(previous.Config, result, strict: false);
                }
            }
            else
            {
                snapshot = BuildSnapshot(config, result, strict: false);
            }

            if (configError is not null)
            {
                Log.ConfigRejected(_logger, configError);
            }

            ConfigError = configError;
            foreach (var failure in result.Failures)
            {
                Log.PluginLoadFailed(_logger, failure.Name, failure.File, failure.Error);
            }

            Swap(snapshot, previous);
            return result.Transient;
        }
        finally
        {
            _reloadLock.Release();
        }
    }

    /// <summary>Numbers plugin versions and snapshots, in one sequence.</summary>
    private long NextGeneration() => Interlocked.Increment(ref _generation);

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
    /// Binds every deployment to a live handler. With <paramref name="strict"/> a configuration mistake
    /// (unknown provider, handler or type) throws; otherwise the model answers 503 naming what is missing.
    /// Plugins whose handlers fail to construct are dropped from the result (their older version, if any, stays).
    /// </summary>
    private ProxySnapshot BuildSnapshot(ProxyConfig config, PluginSet loaded, bool strict)
    {
        var plugins = loaded.Plugins.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var failures = new List<PluginFailure>(loaded.Failures);
        var bindings = new Dictionary<string, (HandlerBinding? Binding, string? Error)>(StringComparer.Ordinal);

        foreach (var mapping in config.Providers)
        {
            bindings[mapping.Provider] = Bind(mapping);
        }

        var groups = new List<ModelGroup>();
        foreach (var byName in config.Models.GroupBy(m => m.ModelName, StringComparer.Ordinal))
        {
            var routes = new List<ModelRoute>();
            foreach (var deployment in byName)
            {
                if (!bindings.TryGetValue(deployment.Provider, out var bound))
                {
                    var message = $"{deployment.Location}: provider '{deployment.Provider}' of model '{deployment.ModelName}' is not in litellm_settings.custom_provider_map (mapped: {Describe(config.Providers.Select(p => p.Provider))})";
                    if (strict)
                    {
                        throw new ConfigException(message);
                    }

                    bound = (null, message);
                }

                routes.Add(new ModelRoute(deployment, bound.Binding, bound.Error));
            }

            groups.Add(new ModelGroup(byName.Key, routes));
        }

        // Only plugins that still serve something, or that nothing references, stay loaded.
        var snapshotPlugins = plugins.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        return new ProxySnapshot(NextGeneration(), config, snapshotPlugins, groups, failures);

        (HandlerBinding?, string?) Bind(ProviderMapping mapping)
        {
            var name = mapping.Handler;
            if (!plugins.TryGetValue(name.Assembly, out var plugin))
            {
                var failure = failures.FirstOrDefault(f => f.Name == name.Assembly);
                if (failure is not null)
                {
                    return (null, $"handler '{name}' failed to load: {failure.Error}");
                }

                var message = $"{mapping.Location}: custom_handler '{name}' is not in {loaded.Directory} (available: {Describe(plugins.Values.Select(p => p.DescribeHandlers()))})";
                if (strict)
                {
                    throw new ConfigException(message);
                }

                return (null, $"handler '{name}' is not loaded: no {name.Assembly}.dll in the plugins folder");
            }

            var type = plugin.FindHandlerType(name.Type, out var problem);
            if (type is null)
            {
                if (strict && !loaded.Kept.Contains(plugin.Name))
                {
                    throw new ConfigException($"{mapping.Location}: custom_handler '{name}': {problem}");
                }

                return (null, $"handler '{name}' is not available: {problem}");
            }

            try
            {
                return (new HandlerBinding(plugin, plugin.GetHandler(type), name.ToString()), null);
            }
            catch (Exception ex)
            {
                var error = $"handler '{name}' cannot be created: {ex.Message}";
                failures.Add(new PluginFailure(plugin.Name, plugin.File.Path, error, DateTimeOffset.UtcNow));
                return (null, error);
            }
        }
    }

    private static string Describe(IEnumerable<string> names)
    {
        var list = string.Join(", ", names);
        return list.Length == 0 ? "none" : list;
    }

    private void Swap(ProxySnapshot snapshot, ProxySnapshot? previous)
    {
        Volatile.Write(ref _current, snapshot);
        LastReloadAt = DateTimeOffset.UtcNow;
        if (previous is not null)
        {
            foreach (var plugin in previous.Plugins)
            {
                if (!snapshot.Plugins.Contains(plugin))
                {
                    _retirement.Retire(plugin);
                }
            }
        }

        Swapped?.Invoke(snapshot);
    }

    /// <summary>Retires every plugin of the current snapshot and waits (bounded) for them to drain and unload.</summary>
    public async ValueTask DisposeAsync()
    {
        RetireAll();
        await _retirement.StopAsync(_options.ShutdownTimeout);
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
