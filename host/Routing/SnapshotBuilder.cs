using PluginHost.Configuration;
using PluginHost.Plugins;

namespace PluginHost.Routing;

/// <summary>
/// Builds a <see cref="ProxySnapshot"/> from a configuration and the plugins loaded for it, and nothing else: no
/// files, no clock, no plugin code (the handlers were created with the plugins). Every deployment is bound to its
/// handler instance. With <c>strict</c>, a configuration mistake (an unknown provider, handler or type) throws
/// <see cref="ConfigException"/>; otherwise, as for a plugin that failed, its models answer 503 naming what is missing.
/// </summary>
internal static class SnapshotBuilder
{
    public static ProxySnapshot Build(long generation, ProxyConfig config, PluginSet plugins, ReloadStatus reload, bool strict)
    {
        var byName = plugins.Plugins.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var bindings = new Dictionary<string, (HandlerBinding? Binding, string? Error)>(StringComparer.Ordinal);
        foreach (var mapping in config.Providers)
        {
            bindings[mapping.Provider] = Bind(mapping, byName, plugins, strict);
        }

        var groups = new List<ModelGroup>();
        foreach (var byModel in config.Models.GroupBy(m => m.ModelName, StringComparer.Ordinal))
        {
            var routes = new List<ModelRoute>();
            foreach (var deployment in byModel)
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

            groups.Add(new ModelGroup(byModel.Key, routes));
        }

        return new ProxySnapshot(generation, config, [.. byName.Values.OrderBy(p => p.Name, StringComparer.Ordinal)], groups, plugins.Failures, reload) { Available = plugins.Available };
    }

    private static (HandlerBinding?, string?) Bind(ProviderMapping mapping, Dictionary<string, LoadedPlugin> byName, PluginSet plugins, bool strict)
    {
        var name = mapping.Handler;
        if (!byName.TryGetValue(name.Assembly, out var plugin))
        {
            var failure = plugins.Failures.FirstOrDefault(f => f.Name == name.Assembly);
            if (failure is not null)
            {
                return (null, $"handler '{name}' failed to load: {failure.Error}");
            }

            if (strict)
            {
                throw new ConfigException($"{mapping.Location}: custom_handler '{name}' is not in {plugins.Directory} (available: {Describe(byName.Values.Select(p => p.DescribeHandlers()).Concat(plugins.Available.Select(p => p.DescribeHandlers())))})");
            }

            return (null, $"handler '{name}' is not loaded: no {name.Assembly}.dll in the plugins folder");
        }

        var type = plugin.FindHandler(name.Type, out var problem);
        if (type is null)
        {
            // A kept old version is not the configuration's mistake: the new file that would have it failed.
            if (strict && !plugins.Kept.Contains(plugin.Name))
            {
                throw new ConfigException($"{mapping.Location}: custom_handler '{name}': {problem}");
            }

            return (null, $"handler '{name}' is not available: {problem}");
        }

        return plugin.TryGetHandler(type, out var handler)
            ? (new HandlerBinding(plugin, handler, name.ToString()), null)
            : (null, $"handler '{name}' cannot be created: {plugins.HandlerErrors.GetValueOrDefault(type, "it was not created with its plugin")}");
    }

    private static string Describe(IEnumerable<string> names)
    {
        var list = string.Join(", ", names);
        return list.Length == 0 ? "none" : list;
    }
}
