namespace PluginHost.Configuration;

/// <summary>
/// <c>router_settings</c> (and the keys LiteLLM also takes under <c>litellm_settings</c>): how a model's deployments
/// are chosen, retried, cooled down and fallen back from. LiteLLM's keys with LiteLLM's meaning; the README's
/// configuration table says where a default was chosen.
/// </summary>
internal sealed record RouterSettings
{
    /// <summary><c>routing_strategy</c>.</summary>
    public RoutingStrategy Strategy { get; init; } = RoutingStrategy.SimpleShuffle;

    /// <summary><c>num_retries</c>: attempts after the first within one model group (LiteLLM's <c>DEFAULT_MAX_RETRIES</c>, 2).</summary>
    public int NumRetries { get; init; } = 2;

    /// <summary><c>retry_after</c>: the least wait before a retry; a handler's own retry-after is used when longer.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.Zero;

    /// <summary><c>timeout</c>: how long one attempt may take, when the deployment sets no <c>timeout</c> of its own.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary><c>stream_timeout</c>: how long a stream may take to its first chunk (falls back to <see cref="Timeout"/>).</summary>
    public TimeSpan? StreamTimeout { get; init; }

    /// <summary><c>allowed_fails</c>: failures of a deployment in one minute before it cools down.</summary>
    public int AllowedFails { get; init; } = 3;

    /// <summary><c>cooldown_time</c>: how long a deployment that failed too often is left out.</summary>
    public TimeSpan CooldownTime { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary><c>fallbacks</c>: model group → the groups to try, in order, when it fails.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Fallbacks { get; init; } = Empty;

    /// <summary><c>context_window_fallbacks</c>: the groups to try when a request does not fit a group's context window.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> ContextWindowFallbacks { get; init; } = Empty;

    /// <summary><c>content_policy_fallbacks</c>: the groups to try when a group refuses the content.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> ContentPolicyFallbacks { get; init; } = Empty;

    /// <summary><c>max_fallbacks</c>: at most this many fallback groups per request.</summary>
    public int MaxFallbacks { get; init; } = 5;

    /// <summary><c>retry_policy</c>: retries per error class, instead of <see cref="NumRetries"/>.</summary>
    public IReadOnlyDictionary<ErrorClass, int> RetryPolicy { get; init; } = new Dictionary<ErrorClass, int>();

    /// <summary><c>allowed_fails_policy</c>: allowed failures per minute per error class, instead of <see cref="AllowedFails"/>.</summary>
    public IReadOnlyDictionary<ErrorClass, int> AllowedFailsPolicy { get; init; } = new Dictionary<ErrorClass, int>();

    /// <summary><c>model_group_alias</c>: a name clients may use for a model group.</summary>
    public IReadOnlyDictionary<string, GroupAlias> Aliases { get; init; } = new Dictionary<string, GroupAlias>();

    /// <summary><c>redis_host</c>/<c>redis_port</c>/<c>redis_password</c> or <c>redis_url</c>: where state shared by every instance lives; null keeps it in this process.</summary>
    public RedisSettings? Redis { get; init; }

    private static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> Empty = new Dictionary<string, IReadOnlyList<string>>();
}

/// <summary>How the router picks among a model group's deployments that can serve now.</summary>
internal enum RoutingStrategy
{
    /// <summary><c>simple-shuffle</c>: at random, weighted by <c>weight</c>, else <c>rpm</c>, else <c>tpm</c>.</summary>
    SimpleShuffle,

    /// <summary><c>least-busy</c>: the fewest requests in flight on this instance.</summary>
    LeastBusy,

    /// <summary><c>latency-based-routing</c>: the lowest recent latency (time to first chunk for streams).</summary>
    LatencyBased,

    /// <summary><c>usage-based-routing-v2</c>: the fewest tokens used this minute.</summary>
    UsageBased,
}

/// <summary>The error classes LiteLLM maps provider errors to; what retries, cools down and falls back follows them.</summary>
internal enum ErrorClass
{
    BadRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    Timeout,
    RateLimit,
    ContextWindowExceeded,
    ContentPolicyViolation,
    InternalServer,
}

/// <summary>A <c>model_group_alias</c> entry: the group it names, and whether <c>/models</c> hides it.</summary>
internal sealed record GroupAlias(string Group, bool Hidden);

/// <summary>A Redis server for shared router state.</summary>
/// <param name="Configuration">A StackExchange.Redis configuration string (<c>host:port,…</c>), without the password.</param>
/// <param name="Display">Where it is, for logs and status.</param>
/// <param name="Password">The password, kept apart so no character in it can be read as another option.</param>
internal sealed record RedisSettings(string Configuration, string Display, string? Password = null);
