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

    /// <summary>Plugin files in the folder that are not loaded for execution (unmapped or refused), listed from their metadata.</summary>
    public IReadOnlyList<PluginListing> Available { get; init; } = [];
}

/// <summary>
/// A plugin file that is not loaded for execution, described from its metadata only.
/// </summary>
/// <param name="Name">What <c>custom_handler</c> would name.</param>
/// <param name="File">The assembly's path.</param>
/// <param name="State"><c>unmapped</c> (no <c>custom_provider_map</c> entry names it) or <c>refused</c> (the trust settings do not allow it).</param>
/// <param name="Sha256">The full SHA-256 of the assembly as read.</param>
/// <param name="Reason">Why it was refused; null when unmapped.</param>
/// <param name="Handlers">The full names of the handler types it defines.</param>
internal sealed record PluginListing(string Name, string File, string State, string Sha256, string? Reason, IReadOnlyList<string> Handlers)
{
    public const string Unmapped = "unmapped";

    public const string Refused = "refused";

    /// <summary>Its handlers as a <c>custom_handler</c> names them, for messages listing what is available.</summary>
    public string DescribeHandlers() => Handlers.Count == 0 ? $"{Name} (no handlers)" : string.Join(", ", Handlers.Select(t => $"{Name}:{t}"));
}

/// <summary>A plugin file that failed to load, or a handler of it that could not be created.</summary>
internal sealed record PluginFailure(string Name, string File, string Error, DateTimeOffset At);
