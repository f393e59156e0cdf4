using Microsoft.Extensions.Logging;

namespace PluginHost.Testing;

/// <summary>What <see cref="PluginHostServer.StartAsync(PluginHostServerOptions, CancellationToken)"/> serves.</summary>
public sealed class PluginHostServerOptions
{
    /// <summary>
    /// The configuration (<c>plugins.yaml</c>'s text: LiteLLM's keys). When null, each of <see cref="Handlers"/> is
    /// served as a model named by <see cref="Models"/> (or, without one, by the handler type's name).
    /// </summary>
    public string? Config { get; set; }

    /// <summary>
    /// Handler types whose assemblies become plugins: each assembly is copied into the temporary plugins folder and
    /// loaded by the proxy into a load context of its own, as a dropped-in DLL would be. Its dependencies come from
    /// the test's own output folder when the copy has none beside it.
    /// </summary>
    public IList<Type> Handlers { get; } = [];

    /// <summary>The model name for a handler type in <see cref="Handlers"/> when <see cref="Config"/> is null.</summary>
    public IDictionary<Type, string> Models { get; } = new Dictionary<Type, string>();

    /// <summary>
    /// Built plugin assemblies (paths of <c>Name.dll</c>), each installed with the files of its build folder (its
    /// dependencies and <c>.deps.json</c>) as <c>plugins/Name/</c>.
    /// </summary>
    public IList<string> PluginAssemblies { get; } = [];

    /// <summary>
    /// The key clients send as <c>Authorization: Bearer</c>, when the configuration sets
    /// <c>general_settings.master_key</c>; null sends none.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>More command-line flags, as <c>pluginhost</c> takes them (e.g. <c>--request-timeout 5</c>).</summary>
    public IList<string> Arguments { get; } = [];

    /// <summary>Whether the proxy watches its folder and reloads on change (off by default: call <see cref="PluginHostServer.ReloadAsync"/>).</summary>
    public bool Watch { get; set; }

    /// <summary>
    /// Whether starting fails when a plugin cannot load or a model has no handler (on by default, so a broken handler
    /// fails the test at its start with the proxy's reason). Turn it off to test how the proxy reports one.
    /// </summary>
    public bool RequireHealthy { get; set; } = true;

    /// <summary>Adds logging providers (the proxy's lines are also kept in <see cref="PluginHostServer.LogLines"/>).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; set; }
}
