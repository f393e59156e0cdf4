using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.Loader;
using McMaster.NETCore.Plugins.Loader;
using PluginHost.Sdk;

namespace PluginHost.Plugins;

/// <summary>
/// Creates the collectible load context of each plugin version with McMaster's <see cref="AssemblyLoadContextBuilder"/>,
/// configured as its <c>PluginLoader</c> would be (unloadable, assemblies read into memory, native libraries
/// shadow-copied, only the SDK shared with the host, the runtime-config probing paths, read by
/// <see cref="RuntimeConfigProbing"/>), but configured once per plugin file instead of once per version. A reload
/// then only builds the context: far fewer allocations while requests are being served, and on a one-CPU host a
/// reload's allocations are what delays them (BENCHMARKS.md, row 5).
/// </summary>
internal static class PluginContexts
{
    private static readonly ConcurrentDictionary<(string Path, DateTime RuntimeConfigWritten), AssemblyLoadContextBuilder> Builders = new();

    /// <summary>The probing paths of the proxy's own runtime configuration: the same for every plugin, so read once.</summary>
    private static readonly Lazy<IReadOnlyList<string>> HostProbingPaths = new(() =>
        [.. Directory.GetFiles(AppContext.BaseDirectory, "*.runtimeconfig.json").SelectMany(RuntimeConfigProbing.PathsFrom)]);

    /// <summary>
    /// A new context for the plugin at <paramref name="path"/>, with the plugin's own assembly loaded into it from
    /// <paramref name="content"/> (its bytes, already read), so the file stays free to be overwritten. The
    /// <paramref name="dependencies"/> (checked by <see cref="PluginAdmission"/> when trust is enforced) are loaded first,
    /// from the bytes that were checked: a context resolves a reference to an assembly it already holds before asking
    /// its loader, so the plugin runs those and the loader never reads those files again.
    /// </summary>
    public static (AssemblyLoadContext Context, Assembly Assembly) Load(string path, byte[] content, IReadOnlyList<CheckedAssembly>? dependencies = null)
    {
        var runtimeConfig = Path.ChangeExtension(path, ".runtimeconfig.json");
        var builder = Builders.GetOrAdd((path, File.GetLastWriteTimeUtc(runtimeConfig)), key => CreateBuilder(key.Path, runtimeConfig));
        var context = builder.Build();
        try
        {
            foreach (var dependency in dependencies ?? [])
            {
                LoadFromMemory(context, dependency.Path, dependency.Content);
            }

            return (context, LoadFromMemory(context, path, content));
        }
        catch
        {
            context.Unload();
            throw;
        }
    }

    /// <summary>Drops what was configured for <paramref name="path"/> (a <see cref="TrustedCopy"/> that is going away).</summary>
    public static void Forget(string? path)
    {
        foreach (var key in Builders.Keys.Where(k => k.Path == path))
        {
            Builders.TryRemove(key, out _);
        }
    }

    private static AssemblyLoadContextBuilder CreateBuilder(string path, string runtimeConfig)
    {
        var builder = new AssemblyLoadContextBuilder()
            .SetMainAssemblyPath(path)
            .SetDefaultContext(AssemblyLoadContext.GetLoadContext(typeof(PluginContexts).Assembly) ?? AssemblyLoadContext.Default)
            .EnableUnloading()
            .PreloadAssembliesIntoMemory()
            .ShadowCopyNativeLibraries()
            .IsLazyLoaded(false)
            // Not PreferDefaultLoadContext: that would hand a plugin the host's version of a dependency instead of
            // its own. Only the SDK is shared, so that CustomLlm is one type for the host and every plugin.
            .PreferDefaultLoadContextAssembly(typeof(CustomLlm).Assembly.GetName());
        foreach (var probingPath in RuntimeConfigProbing.PathsFrom(runtimeConfig).Concat(HostProbingPaths.Value))
        {
            builder.AddProbingPath(probingPath);
        }

        return builder;
    }

    /// <summary>Loads the assembly from memory, with its symbols if they are beside it.</summary>
    private static Assembly LoadFromMemory(AssemblyLoadContext context, string path, byte[] content)
    {
        using var assembly = new MemoryStream(content, writable: false);
        var symbols = Path.ChangeExtension(path, ".pdb");
        if (!File.Exists(symbols))
        {
            return context.LoadFromStream(assembly);
        }

        using var pdb = new MemoryStream(File.ReadAllBytes(symbols), writable: false);
        return context.LoadFromStream(assembly, pdb);
    }
}
