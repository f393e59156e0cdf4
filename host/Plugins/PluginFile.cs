namespace PluginHost.Plugins;

/// <summary>
/// A handler assembly found in the plugins folder: either <c>plugins/Name.dll</c> or
/// <c>plugins/Name/Name.dll</c> (a folder that also holds its dependencies and <c>.deps.json</c>).
/// </summary>
/// <param name="Name">The assembly's file name without extension; what <c>custom_handler</c> names.</param>
/// <param name="Path">The assembly's full path.</param>
internal sealed record PluginFile(string Name, string Path)
{
    /// <summary>For <c>plugins/Name/Name.dll</c>, that folder (its dependencies are there); null for <c>plugins/Name.dll</c>.</summary>
    public string? Folder { get; init; }

    /// <summary>Finds every plugin in <paramref name="directory"/>; a name found in both shapes is reported, the folder wins.</summary>
    public static IReadOnlyList<PluginFile> Scan(string directory, ICollection<string>? problems = null)
    {
        if (!Directory.Exists(directory))
        {
            return [];
        }

        // A Dictionary sorted once, not a SortedDictionary: its tree code is compiled at startup, not precompiled.
        var found = new Dictionary<string, PluginFile>(StringComparer.Ordinal);
        foreach (var folder in Directory.EnumerateDirectories(directory))
        {
            var name = System.IO.Path.GetFileName(folder);
            var assembly = System.IO.Path.Combine(folder, name + ".dll");
            if (File.Exists(assembly))
            {
                found[name] = new PluginFile(name, System.IO.Path.GetFullPath(assembly)) { Folder = System.IO.Path.GetFullPath(folder) };
            }
        }

        foreach (var assembly in Directory.EnumerateFiles(directory, "*.dll"))
        {
            var name = System.IO.Path.GetFileNameWithoutExtension(assembly);
            if (!found.TryAdd(name, new PluginFile(name, System.IO.Path.GetFullPath(assembly))))
            {
                problems?.Add($"{assembly}: ignored, because the folder {name}/ holds a plugin of the same name.");
            }
        }

        var plugins = found.Values.ToArray();
        Array.Sort(plugins, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return plugins;
    }
}
