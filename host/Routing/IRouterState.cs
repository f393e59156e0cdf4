namespace PluginHost.Routing;

/// <summary>
/// The router's state that must agree across proxy instances: which deployments are cooling down, how often
/// each failed this minute, and its requests and tokens this minute. In this process by default
/// (<see cref="InProcessRouterState"/>); in Redis when <c>router_settings</c> names one, shared by every instance on it.
/// Reads on the request path are answered from memory; only taking a request slot under an <c>rpm</c> limit
/// goes to the store, because that count must be exact across instances.
/// </summary>
internal interface IRouterState
{
    /// <summary>Whether <paramref name="deployment"/> is cooling down at <paramref name="now"/>, and until when.</summary>
    bool IsCoolingDown(string deployment, DateTimeOffset now, out DateTimeOffset until);

    /// <summary>Leaves <paramref name="deployment"/> out until <paramref name="until"/>, for <paramref name="reason"/>.</summary>
    ValueTask CoolDownAsync(string deployment, DateTimeOffset until, string reason);

    /// <summary>Counts a failure of <paramref name="deployment"/> in the minute of <paramref name="now"/>; returns that minute's count.</summary>
    ValueTask<long> AddFailureAsync(string deployment, DateTimeOffset now);

    /// <summary>
    /// Takes one request of <paramref name="deployment"/>'s minute if it is under <paramref name="rpm"/> and its tokens
    /// under <paramref name="tpm"/> (no limit when null); false when it is at a limit.
    /// </summary>
    ValueTask<bool> TryTakeRequestAsync(string deployment, int? rpm, int? tpm, DateTimeOffset now);

    /// <summary>Adds the tokens a request used to <paramref name="deployment"/>'s minute.</summary>
    ValueTask AddTokensAsync(string deployment, long tokens, DateTimeOffset now);

    /// <summary>What this instance knows of <paramref name="deployment"/>'s minute (exact in process; refreshed from the store otherwise).</summary>
    DeploymentUsage Usage(string deployment, DateTimeOffset now);

    /// <summary>The cooldown's reason, if it is cooling down.</summary>
    string? CooldownReason(string deployment);

    /// <summary>Where the state lives, for status: <c>in-process</c>, or the Redis endpoint and whether it is reachable.</summary>
    string Describe();
}

/// <summary>A deployment's use in one minute.</summary>
/// <param name="Requests">Requests taken.</param>
/// <param name="Tokens">Tokens used.</param>
/// <param name="Failures">Failures counted.</param>
internal readonly record struct DeploymentUsage(long Requests, long Tokens, long Failures);
