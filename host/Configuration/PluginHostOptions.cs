namespace PluginHost.Configuration;

/// <summary>
/// How the proxy is started: the command line, like <c>litellm --config … --port …</c>, read by
/// <see cref="HostCommandLine"/>. The initial values are the defaults the help text shows.
/// </summary>
internal sealed record PluginHostOptions
{
    /// <summary><c>--config</c>: the configuration file.</summary>
    public string ConfigPath { get; init; } = "plugins.yaml";

    /// <summary>
    /// <c>--plugins</c>: the folder of handler assemblies. Given, it must exist; not given, it is <c>plugins/</c>
    /// beside the configuration file, read as empty while missing and created when the proxy watches.
    /// </summary>
    public string? PluginsDirectory { get; init; }

    /// <summary><c>--host</c>: the address to listen on.</summary>
    public ListenHost Host { get; init; } = ListenHost.AnyIPv4;

    /// <summary><c>--port</c>: the port to listen on (0 picks a free one).</summary>
    public int Port { get; init; } = 4000;

    /// <summary><c>--no-watch</c> turns hot reload off.</summary>
    public bool Watch { get; init; } = true;

    /// <summary>
    /// <c>--poll</c>: find changes by scanning the folder and the configuration file every <see cref="PollInterval"/>
    /// instead of by file system events, which bind mounts and network shares never deliver.
    /// </summary>
    public bool Poll { get; init; }

    /// <summary><c>--poll-interval</c>: how often polling scans.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a replaced plugin may finish its running requests before it is unloaded anyway.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long an unloaded plugin's load context may stay alive before it is reported as leaked.</summary>
    public TimeSpan UnloadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often, while an unloaded context is not yet collected, the host asks for a background collection and
    /// checks again. Longer means fewer collections during bursts of swaps; shorter, a faster verdict.
    /// </summary>
    public TimeSpan UnloadCheckInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How long unloads must be quiet before the host forces collections to confirm them (a burst of swaps shares
    /// them); the oldest unconfirmed one waits at most three times this.
    /// </summary>
    public TimeSpan UnloadSettle { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a handler's constructor may run before its plugin version counts as failed.</summary>
    public TimeSpan ConstructorTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the folder must be quiet after a change before reloading (builds write many files).</summary>
    public TimeSpan WatchDebounce { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often a plugin that failed with a transient error (partial file, locked file) is retried.</summary>
    public int TransientRetries { get; init; } = 10;

    /// <summary>How long graceful shutdown waits for running requests and streams.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>--access-log</c>: write one line per request.</summary>
    public bool AccessLog { get; init; }

    /// <summary>
    /// <c>--inline-io</c>: run each connection's request on the thread that read it (Kestrel's
    /// <c>UnsafePreferInlineScheduling</c>, and socket completions on the socket event thread), with no hop through
    /// the thread pool. Fewer context switches per request; a handler that blocks stalls every connection that thread serves.
    /// </summary>
    public bool InlineIo { get; init; }

    /// <summary><c>--log-format</c>: how the console log is written, the access log included.</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Plain;

    public string ResolvedConfigPath => Path.GetFullPath(ConfigPath);

    public string ResolvedPluginsDirectory =>
        Path.GetFullPath(PluginsDirectory ?? Path.Combine(Path.GetDirectoryName(ResolvedConfigPath)!, "plugins"));
}

/// <summary>How the console log is written (<c>--log-format</c>).</summary>
internal enum LogFormat
{
    /// <summary>One readable line per entry: time, level, category, message (the access log's message is <c>key=value</c> pairs).</summary>
    Plain,

    /// <summary>One JSON object per line, the message's fields as typed values under <c>State</c>.</summary>
    Json,
}
