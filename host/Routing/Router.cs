using System.Collections.Concurrent;
using PluginHost.Configuration;
using PluginHost.Sdk;
using PluginHost.Telemetry;

namespace PluginHost.Routing;

/// <summary>
/// Chooses a model group's deployment for each attempt of a request and learns from how it went: deployments
/// that cannot serve now (no handler, not the endpoint, cooling down, at their <c>rpm</c>/<c>tpm</c>) are left out,
/// the rest are chosen by <c>routing_strategy</c>; failures count toward cooldowns, successes feed latency and usage.
/// The retry and fallback loop around it is the request pipeline's.
/// </summary>
internal sealed class Router(ProxyRuntime runtime, IRouterState state, PluginHostMetrics metrics)
{
    private readonly ConcurrentDictionary<string, DeploymentStats> _stats = new(StringComparer.Ordinal);

    public IRouterState State => state;

    /// <summary>The group a client's model name means: itself, or what <c>model_group_alias</c> maps it to.</summary>
    public static ModelGroup? Resolve(ProxySnapshot snapshot, string model)
    {
        if (snapshot.ModelsByName.TryGetValue(model, out var group))
        {
            return group;
        }

        return snapshot.Config.Router.Aliases.TryGetValue(model, out var alias) && snapshot.ModelsByName.TryGetValue(alias.Group, out group) ? group : null;
    }

    /// <summary>
    /// Leases a deployment of <paramref name="groupName"/> that can serve <paramref name="capability"/> now, preferring
    /// ones not in <paramref name="tried"/>. The group is looked up in the current snapshot, so a reload between
    /// attempts is followed.
    /// </summary>
    public async ValueTask<RoutePick> PickAsync(string groupName, HandlerCapabilities capability, IReadOnlyCollection<string> tried)
    {
        for (var spin = 0; ; spin++)
        {
            var snapshot = runtime.Current;
            if (Resolve(snapshot, groupName) is not { } group)
            {
                return RoutePick.Unknown;
            }

            var now = DateTimeOffset.UtcNow;
            var candidates = Candidates(group, capability, tried, now, out var refusal);
            while (candidates.Count > 0)
            {
                var route = Choose(snapshot.Config.Router.Strategy, candidates, now);
                candidates.Remove(route);
                var deployment = route.Deployment;
                if (!route.Binding!.Plugin.TryAcquire())
                {
                    // Retired between reading the snapshot and leasing it: the next snapshot has its successor.
                    refusal = refusal with { Replaced = true };
                    continue;
                }

                var lease = new HandlerLease(route, route.Binding);
                if ((deployment.Rpm is not null || deployment.Tpm is not null) && !await state.TryTakeRequestAsync(deployment.Id, deployment.Rpm, deployment.Tpm, now))
                {
                    lease.Dispose();
                    refusal = refusal.Earlier(NextMinute(now), $"deployment {deployment.Id} is at its rpm/tpm limit");
                    continue;
                }

                Stats(deployment.Id).Started();
                return new RoutePick(group, lease, null);
            }

            if (refusal.Replaced && spin < 1000)
            {
                Thread.Yield();
                continue;
            }

            return new RoutePick(group, default, refusal);
        }
    }

    /// <summary>An attempt that answered: its latency (time to first chunk for streams) and the tokens it used.</summary>
    public ValueTask SucceededAsync(ModelRoute route, TimeSpan latency, long tokens)
    {
        var stats = Stats(route.Deployment.Id);
        stats.Finished(latency, success: true);
        return tokens > 0 ? state.AddTokensAsync(route.Deployment.Id, tokens, DateTimeOffset.UtcNow) : ValueTask.CompletedTask;
    }

    /// <summary>
    /// An attempt that failed with <paramref name="error"/>: counts toward the deployment's cooldown (never for a group's
    /// only deployment, which would leave the group nothing to serve with, as in LiteLLM).
    /// </summary>
    public async ValueTask FailedAsync(ModelGroup group, ModelRoute route, ErrorClass error, TimeSpan? retryAfter, RouterSettings settings)
    {
        Stats(route.Deployment.Id).Finished(TimeSpan.Zero, success: false);
        if (group.Routes.Count < 2 || ErrorClasses.AllowedFails(error, settings) is not { } allowed)
        {
            return;
        }

        var now = DateTimeOffset.UtcNow;
        var failures = await state.AddFailureAsync(route.Deployment.Id, now);
        var rateLimited = error == ErrorClass.RateLimit && !settings.AllowedFailsPolicy.ContainsKey(ErrorClass.RateLimit);
        if (rateLimited || failures > allowed)
        {
            var wait = retryAfter is { } told && told > settings.CooldownTime ? told : settings.CooldownTime;
            var reason = rateLimited ? "rate limited (429)" : $"{failures} failures this minute ({error}), more than allowed_fails {allowed}";
            await state.CoolDownAsync(route.Deployment.Id, now + wait, reason);
            metrics.CooledDown(group.Name, route.Deployment.Id, error);
        }
    }

    /// <summary>An attempt the client abandoned: it leaves the in-flight count, and counts neither way.</summary>
    public void Abandoned(ModelRoute route) => Stats(route.Deployment.Id).Finished(TimeSpan.Zero, success: null);

    /// <summary>What this instance knows of a deployment, for <c>/router</c>.</summary>
    public DeploymentStats Stats(string deployment) => _stats.GetOrAdd(deployment, static _ => new DeploymentStats());

    private List<ModelRoute> Candidates(ModelGroup group, HandlerCapabilities capability, IReadOnlyCollection<string> tried, DateTimeOffset now, out Refusal refusal)
    {
        refusal = new Refusal(null, null, false, null);
        var candidates = new List<ModelRoute>(group.Routes.Count);
        var untried = 0;
        foreach (var route in group.Routes)
        {
            if (route.Binding is not { } binding)
            {
                refusal = refusal with { Unavailable = refusal.Unavailable ?? route.Unavailable };
                continue;
            }

            if ((binding.Capabilities & capability) == 0)
            {
                refusal = refusal with { Incapable = true };
                continue;
            }

            if (state.IsCoolingDown(route.Deployment.Id, now, out var until))
            {
                refusal = refusal.Earlier(until, $"deployment {route.Deployment.Id} is cooling down: {state.CooldownReason(route.Deployment.Id)}");
                continue;
            }

            candidates.Add(route);
            untried += tried.Contains(route.Deployment.Id) ? 0 : 1;
        }

        // A retry prefers a deployment this request has not failed on yet, when there is one.
        if (untried > 0 && untried < candidates.Count)
        {
            candidates.RemoveAll(r => tried.Contains(r.Deployment.Id));
        }

        return candidates;
    }

    private ModelRoute Choose(RoutingStrategy strategy, List<ModelRoute> candidates, DateTimeOffset now)
    {
        if (candidates.Count == 1)
        {
            return candidates[0];
        }

        return strategy switch
        {
            RoutingStrategy.LeastBusy => Lowest(candidates, r => Stats(r.Deployment.Id).InFlight),
            RoutingStrategy.LatencyBased => Lowest(candidates, r => Stats(r.Deployment.Id).LatencyMs),
            RoutingStrategy.UsageBased => Lowest(candidates, r => state.Usage(r.Deployment.Id, now).Tokens),
            _ => Weighted(candidates),
        };
    }

    /// <summary>The candidate with the lowest score; ties at random, so equal deployments share the load.</summary>
    private static ModelRoute Lowest(List<ModelRoute> candidates, Func<ModelRoute, double> score)
    {
        ModelRoute? best = null;
        double bestScore = double.MaxValue;
        var ties = 0;
        foreach (var route in candidates)
        {
            var value = score(route);
            if (value < bestScore)
            {
                (best, bestScore, ties) = (route, value, 1);
            }
            else if (value == bestScore && Random.Shared.Next(++ties) == 0)
            {
                best = route;
            }
        }

        return best!;
    }

    /// <summary>simple-shuffle: at random, weighted by <c>weight</c> if any deployment has one, else <c>rpm</c>, else <c>tpm</c>.</summary>
    private static ModelRoute Weighted(List<ModelRoute> candidates)
    {
        Func<ModelDeployment, double?> weightOf =
            candidates.Exists(r => r.Deployment.Weight is not null) ? d => d.Weight
            : candidates.Exists(r => r.Deployment.Rpm is not null) ? d => d.Rpm
            : candidates.Exists(r => r.Deployment.Tpm is not null) ? d => d.Tpm
            : _ => 1;
        var total = 0d;
        foreach (var route in candidates)
        {
            total += weightOf(route.Deployment) ?? 1;
        }

        var pick = Random.Shared.NextDouble() * total;
        foreach (var route in candidates)
        {
            pick -= weightOf(route.Deployment) ?? 1;
            if (pick < 0)
            {
                return route;
            }
        }

        return candidates[^1];
    }

    private static DateTimeOffset NextMinute(DateTimeOffset now) => DateTimeOffset.FromUnixTimeSeconds(((now.ToUnixTimeSeconds() / 60) + 1) * 60);
}

/// <summary>The outcome of choosing a deployment: a lease, or why there is none.</summary>
/// <param name="Group">The group (null when the name is unknown).</param>
/// <param name="Lease">The leased deployment, when there is one.</param>
/// <param name="Refusal">Why no deployment can serve now.</param>
internal readonly record struct RoutePick(ModelGroup? Group, HandlerLease Lease, Refusal? Refusal)
{
    public static RoutePick Unknown => default;

    public bool Leased => Lease.Binding is not null;
}

/// <summary>Why no deployment of a group can serve now.</summary>
/// <param name="Unavailable">A deployment's reason it has no handler (503), when that is all there is.</param>
/// <param name="Until">The earliest time a cooling or limited deployment serves again (429 with Retry-After).</param>
/// <param name="Incapable">Some deployment's handler does not implement the endpoint.</param>
/// <param name="Why">What holds the earliest one back.</param>
internal sealed record Refusal(string? Unavailable, DateTimeOffset? Until, bool Incapable, string? Why)
{
    public bool Replaced { get; init; }

    public Refusal Earlier(DateTimeOffset until, string why) =>
        Until is { } current && current <= until ? this : this with { Until = until, Why = why };
}

/// <summary>What this instance has seen of one deployment: requests in flight, latency, outcomes.</summary>
internal sealed class DeploymentStats
{
    private int _inFlight;
    private double _latencyMs;
    private long _successes;
    private long _failures;
    private volatile bool _lastFailed;

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Recent latency in ms (time to first chunk for streams), an exponentially weighted average; 0 before any.</summary>
    public double LatencyMs => Volatile.Read(ref _latencyMs);

    public long Successes => Interlocked.Read(ref _successes);

    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Whether its last answered or failed attempt failed (LiteLLM's "partial outage").</summary>
    public bool LastFailed => _lastFailed;

    public void Started() => Interlocked.Increment(ref _inFlight);

    public void Finished(TimeSpan latency, bool? success)
    {
        Interlocked.Decrement(ref _inFlight);
        if (success is { } succeeded)
        {
            _lastFailed = !succeeded;
        }

        if (success == true)
        {
            Interlocked.Increment(ref _successes);
            var sample = latency.TotalMilliseconds;
            var current = Volatile.Read(ref _latencyMs);
            Volatile.Write(ref _latencyMs, current == 0 ? sample : (current * 0.8) + (sample * 0.2));
        }
        else if (success == false)
        {
            Interlocked.Increment(ref _failures);
        }
    }
}
