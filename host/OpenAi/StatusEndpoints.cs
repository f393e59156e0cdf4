using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Routing;
using PluginHost.Sdk;
using PluginHost.Workers;

namespace PluginHost.OpenAi;

/// <summary><c>GET /models</c>, the health probes and <c>GET /plugins</c>.</summary>
internal static class StatusEndpoints
{
    private static readonly long Started = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static IResult ListModels(ProxyRuntime runtime)
    {
        var snapshot = runtime.Current;
        var data = new List<ModelCard>(snapshot.Models.Count);
        foreach (var model in snapshot.Models)
        {
            data.Add(Card(model.Name, model));
        }

        foreach (var (alias, target) in snapshot.Config.Router.Aliases)
        {
            if (!target.Hidden && !snapshot.ModelsByName.ContainsKey(alias) && snapshot.ModelsByName.TryGetValue(target.Group, out var group))
            {
                data.Add(Card(alias, group));
            }
        }

        return Results.Json(new ModelList("list", data), WireJsonContext.Wire.ModelList);
    }

    public static IResult GetModel(string model, ProxyRuntime runtime) =>
        Router.Resolve(runtime.Current, model) is { } group
            ? Results.Json(Card(model, group), WireJsonContext.Wire.ModelCard)
            : throw new OpenAiException(404, $"The model '{model}' does not exist or you do not have access to it.", "model", "model_not_found");

    /// <summary>
    /// OpenAI's model object, plus LiteLLM's <c>supported_endpoints</c>: what the handlers behind the model can
    /// serve now (any of its deployments), from the methods they override.
    /// </summary>
    private static ModelCard Card(string name, ModelGroup model)
    {
        var capabilities = HandlerCapabilities.None;
        foreach (var route in model.Routes)
        {
            capabilities |= route.Binding?.Capabilities ?? HandlerCapabilities.None;
        }

        return new(name, "model", Started, model.Routes[0].Deployment.Provider, OpenAiApi.EndpointsFor(capabilities));
    }

    public static IResult Liveliness() => Results.Json("I'm alive!", WireJsonContext.Wire.String);

    public static IResult Readiness(ProxyRuntime runtime, Router router)
    {
        var snapshot = runtime.Current;
        var unavailable = new List<string>();
        var coolingDown = new List<string>();
        var now = DateTimeOffset.UtcNow;
        foreach (var model in snapshot.Models)
        {
            foreach (var route in model.Routes)
            {
                if (route.Unavailable is not null)
                {
                    unavailable.Add($"{model.Name}: {route.Unavailable}");
                }
                else if (route.Binding is { Plugin.Worker: { State: WorkerState.CircuitOpen } worker } binding)
                {
                    unavailable.Add($"{model.Name}: handler '{binding.HandlerName}' is open-circuit: its worker process crashed {worker.CrashesInARow} times in a row (last: {worker.LastExit}); retried after {worker.CircuitOpenUntil:O}");
                }

                if (router.State.IsCoolingDown(route.Deployment.Id, now, out var until))
                {
                    coolingDown.Add($"{model.Name}/{route.Deployment.Id}: until {until:O} ({router.State.CooldownReason(route.Deployment.Id)})");
                }
            }
        }

        var failures = snapshot.Failures.Select(f => $"{f.Name}: {f.Error}").ToList();
        var healthy = unavailable.Count == 0 && failures.Count == 0 && snapshot.Reload.ConfigError is null;
        return Results.Json(
            new Readiness(healthy ? "healthy" : "degraded", snapshot.Models.Count, unavailable, failures, snapshot.Reload.ConfigError, coolingDown, router.State.Describe(), ThisAssembly.Version),
            WireJsonContext.Wire.Readiness);
    }

    /// <summary><c>GET /router</c>: every deployment's state as this instance sees it (cooldowns and minute counters are shared through Redis when configured).</summary>
    public static IResult RouterStatus(ProxyRuntime runtime, Router router)
    {
        var snapshot = runtime.Current;
        var now = DateTimeOffset.UtcNow;
        var deployments = new List<DeploymentStatus>();
        foreach (var model in snapshot.Models)
        {
            foreach (var route in model.Routes)
            {
                var deployment = route.Deployment;
                var usage = router.State.Usage(deployment.Id, now);
                var stats = router.Stats(deployment.Id);
                var cooling = router.State.IsCoolingDown(deployment.Id, now, out var until);
                var state = route.Binding is null ? "unavailable" : cooling ? "cooling_down" : "healthy";
                deployments.Add(new DeploymentStatus(
                    model.Name,
                    deployment.Id,
                    $"{deployment.Provider}/{deployment.ProviderModel}",
                    route.Binding?.HandlerName ?? route.Unavailable ?? "",
                    state,
                    cooling ? until : null,
                    cooling ? router.State.CooldownReason(deployment.Id) : null,
                    deployment.Rpm,
                    deployment.Tpm,
                    usage.Requests,
                    usage.Tokens,
                    usage.Failures,
                    stats.InFlight,
                    Math.Round(stats.LatencyMs, 3),
                    stats.Successes,
                    stats.Failures));
            }
        }

        var strategy = snapshot.Config.Router.Strategy switch
        {
            RoutingStrategy.LeastBusy => "least-busy",
            RoutingStrategy.LatencyBased => "latency-based-routing",
            RoutingStrategy.UsageBased => "usage-based-routing-v2",
            _ => "simple-shuffle",
        };
        return Results.Json(new RouterStatusBody(router.State.Describe(), strategy, deployments), WireJsonContext.Wire.RouterStatusBody);
    }

    public static IResult Plugins(ProxyRuntime runtime)
    {
        var snapshot = runtime.Current;
        var handlers = new List<PluginStatus>();
        foreach (var plugin in snapshot.Plugins)
        {
            handlers.Add(Status(plugin));
        }

        foreach (var listed in snapshot.Available)
        {
            handlers.Add(new PluginStatus(listed.Name, listed.File, null, listed.Sha256[..16], null, null, null, listed.State, 0, listed.Reason, listed.Handlers, null) { Sha256 = listed.Sha256 });
        }

        foreach (var failure in snapshot.Failures)
        {
            if (!snapshot.Plugins.Any(p => p.Name == failure.Name) && !snapshot.Available.Any(p => p.Name == failure.Name))
            {
                handlers.Add(new PluginStatus(failure.Name, failure.File, null, null, null, null, null, "failed", 0, failure.Error, [], null));
            }
        }

        var retired = runtime.Retired.Select(Status).ToList();
        return Results.Json(
            new PluginsStatus(runtime.Options.ResolvedPluginsDirectory, snapshot.Config.SourceFile, snapshot.Generation, snapshot.Reload.At, snapshot.Reload.ConfigError, handlers, retired),
            WireJsonContext.Wire.PluginsStatus);
    }

    private static PluginStatus Status(LoadedPlugin plugin) => new(
        plugin.Name,
        plugin.File.Path,
        plugin.Version,
        plugin.ContentHash,
        plugin.Generation,
        plugin.LoadedAt,
        plugin.RetiredAt,
        plugin.State.ToString().ToLowerInvariant(),
        plugin.InFlight,
        plugin.LastError,
        plugin.Handlers,
        plugin.Worker is { } worker ? Status(worker) : null) { Sha256 = plugin.Sha256 };

    private static WorkerStatus Status(PluginWorker worker) => new(
        worker.State switch
        {
            WorkerState.CircuitOpen => "open_circuit",
            var state => state.ToString().ToLowerInvariant(),
        },
        worker.Pid,
        worker.Restarts,
        worker.CrashesInARow,
        worker.LastExit,
        worker.CircuitOpenUntil,
        Math.Round(worker.StartedIn.TotalMilliseconds, 1),
        worker.Settings.MemoryMb,
        worker.Settings.RequestTimeout.TotalSeconds);
}

internal sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

internal sealed record ModelCard(string Id, string Object, long Created, string OwnedBy, IReadOnlyList<string> SupportedEndpoints);

internal sealed record Readiness(string Status, int Models, IReadOnlyList<string> UnavailableModels, IReadOnlyList<string> FailedPlugins, string? ConfigError, IReadOnlyList<string> DeploymentsCoolingDown, string RouterState, string Version);

internal sealed record RouterStatusBody(string State, string RoutingStrategy, IReadOnlyList<DeploymentStatus> Deployments);

internal sealed record DeploymentStatus(
    string ModelGroup,
    string Id,
    string Model,
    string Handler,
    string State,
    DateTimeOffset? CooldownUntil,
    string? CooldownReason,
    int? Rpm,
    int? Tpm,
    long RequestsThisMinute,
    long TokensThisMinute,
    long FailuresThisMinute,
    int InFlight,
    double LatencyMs,
    long Successes,
    long Failures);

internal sealed record PluginsStatus(
    string Directory,
    string Config,
    long SnapshotGeneration,
    DateTimeOffset? LastReloadAt,
    string? ConfigError,
    IReadOnlyList<PluginStatus> Plugins,
    IReadOnlyList<PluginStatus> Retired);

internal sealed record PluginStatus(
    string Name,
    string File,
    string? Version,
    string? ContentHash,
    long? Generation,
    DateTimeOffset? LoadedAt,
    DateTimeOffset? RetiredAt,
    string State,
    int InFlight,
    string? LastError,
    IReadOnlyList<string> Handlers,
    WorkerStatus? Worker)
{
    /// <summary>The full SHA-256 of the assembly (what <c>general_settings.allowed_plugin_sha256</c> lists).</summary>
    public string? Sha256 { get; init; }
}

/// <summary>
/// An isolated plugin version's worker process (<c>isolation: process</c>): <c>ready</c>, <c>restarting</c>,
/// <c>open_circuit</c> (it kept crashing; its models answer 503 until <c>circuit_open_until</c>) or <c>stopped</c>.
/// </summary>
internal sealed record WorkerStatus(string State, int? Pid, int Restarts, int CrashesInARow, string? LastExit, DateTimeOffset? CircuitOpenUntil, double StartMs, int? MemoryMb, double RequestTimeoutSeconds);

internal static class ThisAssembly
{
    public static readonly string Version = typeof(ThisAssembly).Assembly.GetName().Version?.ToString() ?? "0.0.0";
}
