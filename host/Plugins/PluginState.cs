namespace PluginHost.Plugins;

/// <summary>Where a loaded plugin version is in its life.</summary>
internal enum PluginState
{
    /// <summary>Serving requests.</summary>
    Active,

    /// <summary>Replaced or removed; finishing the requests it had.</summary>
    Draining,

    /// <summary>Drained and unloaded; waiting for the garbage collector to confirm.</summary>
    Unloading,

    /// <summary>Its load context was collected.</summary>
    Unloaded,

    /// <summary>Its load context is still alive long after unload: something holds it.</summary>
    Leaked,

    /// <summary>It could not be loaded.</summary>
    Failed,
}
