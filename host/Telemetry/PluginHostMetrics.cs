using System.Diagnostics;
using System.Diagnostics.Metrics;
using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Routing;

namespace PluginHost.Telemetry;

/// <summary>
/// The proxy's metrics, on one <see cref="Meter"/> named <c>PluginHost</c>: requests by the OpenTelemetry GenAI
/// semantic conventions (<c>gen_ai.server.*</c>, <c>gen_ai.client.token.usage</c>), plus plugins' lives and the router's
/// decisions as <c>pluginhost.*</c>. Requests are recorded once, when they end, from their <see cref="RequestRecord"/>;
/// plugin and router states are read from the current snapshot when a reader collects. With no listener an instrument
/// records nothing (<see cref="Enabled"/> is false). Until the SDK starts listening (after the proxy listens), what is
/// recorded is kept and made again then (<see cref="StartedListening"/>), so the start's loads and first requests count.
/// </summary>
internal sealed class PluginHostMetrics
{
    public const string MeterName = "PluginHost";

    // Buckets: the GenAI semantic conventions' advice, the request duration's with three below 10 ms (a handler in
    // process answers in microseconds, and the proxy's own overhead is what operators compare).
    private static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
    private static readonly double[] FirstTokenBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
    private static readonly double[] PerTokenBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5];
    private static readonly long[] TokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
    private static readonly double[] LoadBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly Meter _meter;
    private readonly Histogram<double> _requestDuration;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _timePerOutputToken;
    private readonly Histogram<long> _tokenUsage;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _fallbacks;
    private readonly Counter<long> _cooldowns;
    private readonly Counter<long> _reloads;
    private readonly Histogram<double> _loadDuration;
    private readonly Counter<long> _unloads;
    private readonly Counter<long> _workerCrashes;
    private readonly Counter<long> _refusals;

    private PendingMeasurements? _pending;

    /// <param name="meter">The meter the instruments are created on.</param>
    /// <param name="deferred">Whether an SDK will start listening later (<see cref="StartedListening"/>): until then, keep what is recorded.</param>
    public PluginHostMetrics(Meter meter, bool deferred = false)
    {
        _meter = meter;
        _pending = deferred ? new PendingMeasurements() : null;
        _requestDuration = meter.CreateHistogram<double>(
            "gen_ai.server.request.duration", "s", "Time from the request's start to its last byte, per request.", advice: new() { HistogramBucketBoundaries = DurationBuckets });
        _timeToFirstToken = meter.CreateHistogram<double>(
            "gen_ai.server.time_to_first_token", "s", "Time from a streamed request's start to its first chunk, for successful streams.", advice: new() { HistogramBucketBoundaries = FirstTokenBuckets });
        _timePerOutputToken = meter.CreateHistogram<double>(
            "gen_ai.server.time_per_output_token", "s", "Time per output token after the first, for successful streams that report usage.", advice: new() { HistogramBucketBoundaries = PerTokenBuckets });
        _tokenUsage = meter.CreateHistogram<long>(
            "gen_ai.client.token.usage", "{token}", "Input and output tokens per successful request, as the handler reported them.", advice: new() { HistogramBucketBoundaries = TokenBuckets });
        _retries = meter.CreateCounter<long>("pluginhost.router.retries", "{retry}", "Attempts after the first within a model group.");
        _fallbacks = meter.CreateCounter<long>("pluginhost.router.fallbacks", "{fallback}", "Fallback groups moved to, by whether the request then succeeded.");
        _cooldowns = meter.CreateCounter<long>("pluginhost.router.cooldowns", "{cooldown}", "Times a deployment was put in cooldown, by the error class that did it.");
        _reloads = meter.CreateCounter<long>("pluginhost.reloads", "{reload}", "Snapshots built from the configuration and plugins folder, by outcome.");
        _loadDuration = meter.CreateHistogram<double>(
            "pluginhost.plugin.load.duration", "s", "Time to load a plugin version and create its handlers.", advice: new() { HistogramBucketBoundaries = LoadBuckets });
        _unloads = meter.CreateCounter<long>("pluginhost.plugin.unloads", "{context}", "Retired plugin versions whose load context was collected, or is still alive at the deadline (leaked).");
        _workerCrashes = meter.CreateCounter<long>("pluginhost.worker.crashes", "{crash}", "Worker processes of isolated plugins (isolation: process) that died, or could not start again, by whether that opened the circuit.");
        _refusals = meter.CreateCounter<long>("pluginhost.plugin.refusals", "{assembly}", "Mapped plugin assemblies refused by the trust settings (allowed_plugin_sha256, trusted_plugin_keys): each file version once, when first refused.");
    }

    /// <summary>Whether anything listens to the request metrics, or will (and what is recorded until then is kept).</summary>
    public bool Enabled => Volatile.Read(ref _pending) is not null || _requestDuration.Enabled;

    /// <summary>
    /// The SDK listens now: makes every measurement kept until now, and from now on records directly. Returns how many
    /// were not kept (more than <see cref="PendingMeasurements.Limit"/>).
    /// </summary>
    public int StartedListening() => Interlocked.Exchange(ref _pending, null)?.Replay() ?? 0;

    /// <summary>Records a finished request from its <paramref name="record"/>; <paramref name="errorType"/> is null when it succeeded.</summary>
    public void RequestEnded(RequestRecord record, string? errorType)
    {
        var duration = Stopwatch.GetElapsedTime(record.Started).TotalSeconds;
        var tags = new TagList { { TelemetryNames.Operation, record.Operation } };
        if (record.RequestedModel is { } requested)
        {
            tags.Add(TelemetryNames.RequestModel, requested);
        }

        if (record.ProviderModel is { } provider)
        {
            tags.Add(TelemetryNames.ResponseModel, provider);
        }

        if (record.Retries > 0)
        {
            Add(_retries, record.Retries, tags);
        }

        if (record.Fallbacks > 0)
        {
            var fallbackTags = tags;
            fallbackTags.Add(TelemetryNames.ModelGroup, record.ModelGroup);
            fallbackTags.Add(TelemetryNames.Outcome, errorType is null ? TelemetryNames.Success : TelemetryNames.Failure);
            Add(_fallbacks, record.Fallbacks, fallbackTags);
        }

        if (errorType is not null)
        {
            tags.Add(TelemetryNames.ErrorType, errorType);
            Record(_requestDuration, duration, tags);
            return;
        }

        Record(_requestDuration, duration, tags);
        var usage = record.Usage;
        if (record.TimeToFirstChunk is { } firstChunk)
        {
            Record(_timeToFirstToken, firstChunk.TotalSeconds, tags);
            if (usage is { CompletionTokens: > 1 })
            {
                Record(_timePerOutputToken, (duration - firstChunk.TotalSeconds) / (usage.CompletionTokens - 1), tags);
            }
        }

        if (usage is not null)
        {
            var input = tags;
            input.Add(TelemetryNames.TokenType, TelemetryNames.Input);
            Record(_tokenUsage, usage.PromptTokens, input);
            var output = tags;
            output.Add(TelemetryNames.TokenType, TelemetryNames.Output);
            Record(_tokenUsage, usage.CompletionTokens, output);
        }
    }

    /// <summary>A deployment put in cooldown after an error of class <paramref name="error"/>.</summary>
    public void CooledDown(string group, string deployment, ErrorClass error) =>
        Add(_cooldowns, 1, new TagList
        {
            { TelemetryNames.ModelGroup, group },
            { TelemetryNames.Deployment, deployment },
            { TelemetryNames.ErrorType, error.ToString() },
        });

    /// <summary>A snapshot built: at startup or by a reload, with a rejected configuration or failed plugins or not.</summary>
    public void Reloaded(string? configError, int pluginFailures)
    {
        var outcome = configError is null && pluginFailures == 0 ? TelemetryNames.Ok : TelemetryNames.Failed;
        var tags = new TagList { { TelemetryNames.Outcome, outcome } };
        if (configError is not null || pluginFailures > 0)
        {
            tags.Add(TelemetryNames.ErrorType, configError is not null ? TelemetryNames.ConfigRejected : TelemetryNames.LoadFailed);
        }

        Add(_reloads, 1, tags);
    }

    /// <summary>A plugin version loaded (or not) in <paramref name="elapsed"/>.</summary>
    public void PluginLoaded(string plugin, TimeSpan elapsed, bool ok) =>
        Record(_loadDuration, elapsed.TotalSeconds, new TagList
        {
            { TelemetryNames.Plugin, plugin },
            { TelemetryNames.Outcome, ok ? TelemetryNames.Ok : TelemetryNames.Failed },
        });

    /// <summary>A version of <paramref name="plugin"/> that the trust settings do not allow was refused (first time seen).</summary>
    public void PluginRefused(string plugin) => Add(_refusals, 1, new TagList { { TelemetryNames.Plugin, plugin } });

    /// <summary>A worker process of <paramref name="plugin"/> died (or failed to start again); <paramref name="circuitOpened"/> when that opened its circuit.</summary>
    public void WorkerCrashed(string plugin, bool circuitOpened) =>
        Add(_workerCrashes, 1, new TagList
        {
            { TelemetryNames.Plugin, plugin },
            { TelemetryNames.Outcome, circuitOpened ? "circuit_open" : "restarting" },
        });

    /// <summary>A retired plugin version's load context was collected, or is still alive at its deadline.</summary>
    public void PluginUnloaded(string plugin, bool collected) =>
        Add(_unloads, 1, new TagList
        {
            { TelemetryNames.Plugin, plugin },
            { TelemetryNames.Outcome, collected ? TelemetryNames.Collected : TelemetryNames.Leaked },
        });

    private void Record<T>(Histogram<T> histogram, T value, in TagList tags)
        where T : struct
    {
        if (Volatile.Read(ref _pending) is not { } pending || !Keep(pending, histogram, value, tags))
        {
            histogram.Record(value, tags);
        }
    }

    private void Add(Counter<long> counter, long value, in TagList tags)
    {
        if (Volatile.Read(ref _pending) is not { } pending || !Keep(pending, counter, value, tags))
        {
            counter.Add(value, tags);
        }
    }

    // Apart from Record and Add, so only a kept measurement allocates its closure.
    private static bool Keep<T>(PendingMeasurements pending, Histogram<T> histogram, T value, TagList tags)
        where T : struct => pending.TryKeep(() => histogram.Record(value, tags));

    private static bool Keep(PendingMeasurements pending, Counter<long> counter, long value, TagList tags) =>
        pending.TryKeep(() => counter.Add(value, tags));

    /// <summary>
    /// Adds the instruments read from the proxy's state when a reader collects: live plugin versions and their requests
    /// in flight, and each deployment's state and answers.
    /// </summary>
    public void Observe(ProxyRuntime runtime, Router router)
    {
        _meter.CreateObservableGauge(
            "pluginhost.plugin.generations",
            () => Generations(runtime),
            "{generation}",
            "Loaded versions of each plugin whose load context is alive: active, draining, unloading, or leaked.");
        _meter.CreateObservableUpDownCounter(
            "pluginhost.plugin.in_flight",
            () => InFlight(runtime),
            "{request}",
            "Requests running in each plugin, over all its live versions.");
        _meter.CreateObservableGauge(
            "pluginhost.router.deployment.state",
            () => DeploymentStates(runtime, router),
            description: "Each deployment's state as LiteLLM's litellm_deployment_state: 0 healthy, 1 its last attempt failed, 2 cooling down or without a handler.");
        _meter.CreateObservableCounter(
            "pluginhost.router.deployment.responses",
            () => DeploymentResponses(runtime, router),
            "{response}",
            "Attempts each deployment answered or failed, since the proxy started.");
    }

    /// <summary>The plugin versions whose load contexts are alive (none before the first load and after shutdown).</summary>
    private static IEnumerable<LoadedPlugin> Live(ProxyRuntime runtime)
    {
        foreach (var plugin in runtime.Loaded?.Plugins ?? [])
        {
            yield return plugin;
        }

        foreach (var plugin in runtime.Retired)
        {
            if (plugin.State is PluginState.Draining or PluginState.Unloading or PluginState.Leaked)
            {
                yield return plugin;
            }
        }
    }

    private static IEnumerable<Measurement<int>> Generations(ProxyRuntime runtime) =>
        Live(runtime)
            .GroupBy(p => (p.Name, p.State))
            .Select(g => new Measurement<int>(g.Count(), new KeyValuePair<string, object?>(TelemetryNames.Plugin, g.Key.Name), new KeyValuePair<string, object?>(TelemetryNames.PluginState, StateName(g.Key.State))));

    private static IEnumerable<Measurement<int>> InFlight(ProxyRuntime runtime) =>
        Live(runtime)
            .GroupBy(p => p.Name)
            .Select(g => new Measurement<int>(g.Sum(p => p.InFlight), new KeyValuePair<string, object?>(TelemetryNames.Plugin, g.Key)));

    private static IEnumerable<Measurement<int>> DeploymentStates(ProxyRuntime runtime, Router router)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var group in runtime.Loaded?.Models ?? [])
        {
            foreach (var route in group.Routes)
            {
                var id = route.Deployment.Id;
                var state = route.Binding is null || router.State.IsCoolingDown(id, now, out _) ? 2
                    : router.Stats(id).LastFailed ? 1
                    : 0;
                yield return new Measurement<int>(state, DeploymentTags(group.Name, id));
            }
        }
    }

    private static IEnumerable<Measurement<long>> DeploymentResponses(ProxyRuntime runtime, Router router)
    {
        foreach (var group in runtime.Loaded?.Models ?? [])
        {
            foreach (var route in group.Routes)
            {
                var stats = router.Stats(route.Deployment.Id);
                yield return new Measurement<long>(stats.Successes, [.. DeploymentTags(group.Name, route.Deployment.Id), new(TelemetryNames.Outcome, TelemetryNames.Success)]);
                yield return new Measurement<long>(stats.Failures, [.. DeploymentTags(group.Name, route.Deployment.Id), new(TelemetryNames.Outcome, TelemetryNames.Failure)]);
            }
        }
    }

    private static KeyValuePair<string, object?>[] DeploymentTags(string group, string deployment) =>
        [new(TelemetryNames.ModelGroup, group), new(TelemetryNames.Deployment, deployment)];

    private static string StateName(PluginState state) => state switch
    {
        PluginState.Active => "active",
        PluginState.Draining => "draining",
        PluginState.Unloading => "unloading",
        PluginState.Leaked => "leaked",
        _ => state.ToString().ToLowerInvariant(),
    };
}
