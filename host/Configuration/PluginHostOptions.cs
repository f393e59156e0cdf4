namespace PluginHost.Configuration;

/// <summary>How the proxy is started: the command line, like <c>litellm --config … --port …</c>.</summary>
internal sealed record PluginHostOptions
{
    /// <summary><c>--config</c>: the configuration file.</summary>
    public string ConfigPath { get; init; } = "plugins.yaml";

    /// <summary><c>--plugins</c>: the folder of handler assemblies; defaults to <c>plugins/</c> beside the configuration file.</summary>
    public string? PluginsDirectory { get; init; }

    /// <summary><c>--host</c>: the address to listen on.</summary>
    public string Host { get; init; } = "0.0.0.0";

    /// <summary><c>--port</c>: the port to listen on (0 picks a free one).</summary>
    public int Port { get; init; } = 4000;

    /// <summary><c>--no-watch</c> turns hot reload off.</summary>
    public bool Watch { get; init; } = true;

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

    public string ResolvedConfigPath => Path.GetFullPath(ConfigPath);

    public string ResolvedPluginsDirectory =>
        Path.GetFullPath(PluginsDirectory ?? Path.Combine(Path.GetDirectoryName(ResolvedConfigPath)!, "plugins"));

    /// <summary>Parses the command line; unknown or malformed arguments throw <see cref="ConfigException"/>.</summary>
    public static PluginHostOptions Parse(IReadOnlyList<string> args)
    {
        var options = new PluginHostOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ConfigException($"{arg} needs a value.");
            options = arg switch
            {
                "--config" or "-c" => options with { ConfigPath = Value() },
                "--plugins" => options with { PluginsDirectory = Value() },
                "--host" => options with { Host = Value() },
                "--port" or "-p" => options with { Port = ParsePort(Value()) },
                "--no-watch" => options with { Watch = false },
                "--drain-timeout" => options with { DrainTimeout = ParseSeconds(arg, Value()) },
                "--unload-timeout" => options with { UnloadTimeout = ParseSeconds(arg, Value()) },
                "--shutdown-timeout" => options with { ShutdownTimeout = ParseSeconds(arg, Value()) },
                "--constructor-timeout" => options with { ConstructorTimeout = ParseSeconds(arg, Value()) },
                _ => throw new ConfigException($"Unknown argument '{arg}'. Usage: PluginHost [--config plugins.yaml] [--port 4000] [--host 0.0.0.0] [--plugins DIR] [--no-watch] [--drain-timeout S] [--unload-timeout S] [--shutdown-timeout S] [--constructor-timeout S]"),
            };
        }

        return options;
    }

    private static TimeSpan ParseSeconds(string name, string value) =>
        double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : throw new ConfigException($"{name} '{value}' is not a positive number of seconds.");

    private static int ParsePort(string value) =>
        int.TryParse(value, out var port) && port is >= 0 and <= 65535
            ? port
            : throw new ConfigException($"--port '{value}' is not a port number (0-65535).");
}
