using System.Collections.ObjectModel;

namespace PluginHost.Plugins;

/// <summary>
/// The plugin versions one reload serves, and what failed to load (<see cref="PluginFolder.Load"/>) or, for a
/// handler a configuration maps to an unchanged version, to create (<see cref="PluginFolder.CreateHandlers"/>).
/// </summary>
/// <param name="Directory">The plugins folder they come from (messages name it).</param>
/// <param name="Plugins">One version per plugin name, by name: new, unchanged, or kept because its new file failed.</param>
/// <param name="Failures">Files that failed to load (whether or not an older version is kept), and handlers whose constructor threw.</param>
/// <param name="Kept">The names whose new file failed while an older version keeps serving.</param>
/// <param name="Transient">Whether a failure may pass by itself (a file still being written), so a retry shortly may succeed.</param>
internal sealed record PluginSet(string Directory, IReadOnlyList<LoadedPlugin> Plugins, IReadOnlyList<PluginFailure> Failures, IReadOnlySet<string> Kept, bool Transient)
{
    /// <summary>Why a handler could not be created (its constructor's message), by handler type full name.</summary>
    public IReadOnlyDictionary<string, string> HandlerErrors { get; init; } = ReadOnlyDictionary<string, string>.Empty;
}

/// <summary>A plugin file that failed to load, or a handler of it that could not be created.</summary>
internal sealed record PluginFailure(string Name, string File, string Error, DateTimeOffset At);
