using System.Collections.Frozen;
using Microsoft.Extensions.Primitives;
using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Sdk;

namespace PluginHost.Routing;

/// <summary>
/// Everything a request needs, frozen: the configuration, the loaded plugins and, for each public model
/// name, its deployments bound to live handler instances, with how the reload that built it went. A change
/// builds a new snapshot (<see cref="SnapshotBuilder"/>); nothing here changes after it is built.
/// </summary>
internal sealed class ProxySnapshot
{
    private readonly CancellationTokenSource _replaced = new();

    public ProxySnapshot(long generation, ProxyConfig config, IReadOnlyList<LoadedPlugin> plugins, IReadOnlyList<ModelGroup> models, IReadOnlyList<PluginFailure> failures, ReloadStatus reload)
    {
        Generation = generation;
        Config = config;
        Plugins = plugins;
        Models = models;
        Failures = failures;
        Reload = reload;
        ModelsByName = models.ToFrozenDictionary(m => m.Name, StringComparer.Ordinal);
        ChangeToken = new CancellationChangeToken(_replaced.Token);
    }

    public long Generation { get; }

    public ProxyConfig Config { get; }

    public IReadOnlyList<LoadedPlugin> Plugins { get; }

    /// <summary>Plugin files that are not loaded: unmapped, or refused by the trust settings.</summary>
    public IReadOnlyList<PluginListing> Available { get; init; } = [];

    /// <summary>Public models in configuration order.</summary>
    public IReadOnlyList<ModelGroup> Models { get; }

    public FrozenDictionary<string, ModelGroup> ModelsByName { get; }

    /// <summary>Plugins that could not be loaded (and are not served by an older version).</summary>
    public IReadOnlyList<PluginFailure> Failures { get; }

    /// <summary>When the reload that built this snapshot ran, and the configuration error it rejected, if any.</summary>
    public ReloadStatus Reload { get; }

    /// <summary>Fires once, when a newer snapshot replaces this one (YARP's configuration change tokens work the same way).</summary>
    public IChangeToken ChangeToken { get; }

    /// <summary>Called by the runtime after it published the snapshot that replaces this one.</summary>
    internal void SignalReplaced() => _replaced.Cancel();
}

/// <summary>How a reload went; published with the snapshot it built.</summary>
/// <param name="At">When it ran.</param>
/// <param name="ConfigError">Why the configuration file was rejected (the last good configuration serves), or null.</param>
internal sealed record ReloadStatus(DateTimeOffset At, string? ConfigError);

/// <summary>A public model name and the deployments that serve it, used in turn.</summary>
internal sealed class ModelGroup(string name, IReadOnlyList<ModelRoute> routes)
{
    private int _next;

    public string Name { get; } = name;

    public IReadOnlyList<ModelRoute> Routes { get; } = routes;

    /// <summary>The next deployment, round robin.</summary>
    public ModelRoute Next()
    {
        if (Routes.Count == 1)
        {
            return Routes[0];
        }

        var turn = (uint)Interlocked.Increment(ref _next);
        return Routes[(int)(turn % (uint)Routes.Count)];
    }
}

/// <summary>One deployment, bound to its handler, or the reason it cannot be served.</summary>
internal sealed record ModelRoute(ModelDeployment Deployment, HandlerBinding? Binding, string? Unavailable);

/// <summary>A live handler instance and the plugin version it comes from.</summary>
internal sealed record HandlerBinding(LoadedPlugin Plugin, CustomLlm Handler, string HandlerName)
{
    /// <summary>What the handler serves: from the methods it overrides, or, isolated, from what its worker reported.</summary>
    public HandlerCapabilities Capabilities { get; } = Handler is Workers.RemoteLlm remote ? remote.Served : Handler.Capabilities;
}
