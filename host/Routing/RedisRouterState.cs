using System.Collections.Concurrent;
using System.Globalization;
using PluginHost.Configuration;
using StackExchange.Redis;

namespace PluginHost.Routing;

/// <summary>
/// The router's state in Redis, shared by every proxy instance on it. Keys (<c>ID</c> is the deployment's id,
/// <c>MINUTE</c> the Unix minute): <c>pluginhost:ID:cooldown</c> (value <c>UNTIL_MS|reason</c>, expiring with the
/// cooldown), and the minute counters <c>pluginhost:ID:requests:MINUTE</c>, <c>:tokens:MINUTE</c>,
/// <c>:failures:MINUTE</c> (INCR/INCRBY, kept 120 s).
/// <para>
/// Taking a request under an <c>rpm</c> limit is exact across instances: INCR, and when that passes the limit,
/// DECR and refuse. Everything else the request path reads (cooldowns, usage) comes from memory: what a background
/// loop last read from Redis (one MGET a second for the deployments this instance has seen, as LiteLLM re-checks
/// cooldowns about every second), together with this instance's own writes, which an embedded
/// <see cref="InProcessRouterState"/> also records, so its own cooldown is visible at once.
/// </para>
/// <para>
/// When Redis is unreachable (at start or later) every call is answered by that embedded state at once (commands
/// fail fast instead of queueing), the loss is logged once, and the loop notices Redis back (logged once too),
/// writes the cooldowns this instance set meanwhile, and shared state resumes. No request fails or waits on a
/// reconnect; one that was talking to Redis when it vanished waits at most the client's timeout (1 s).
/// </para>
/// </summary>
internal sealed class RedisRouterState : IRouterState, IAsyncDisposable
{
    private const string Prefix = "pluginhost:";
    private const int Starting = 0;
    private const int Reachable = 1;
    private const int Unreachable = 2;

    private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan CounterLifetime = TimeSpan.FromSeconds(120);

    private readonly RedisSettings _settings;
    private readonly ConfigurationOptions _options;
    private readonly ILogger _logger;
    private readonly InProcessRouterState _local = new();
    private readonly ConcurrentDictionary<string, SharedView> _shared = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile ConnectionMultiplexer? _redis;
    private Task? _loop;
    private int _status = Starting;

    public RedisRouterState(RedisSettings settings, ILogger<RedisRouterState> logger)
    {
        _settings = settings;
        _logger = logger;
        _options = ConfigurationOptions.Parse(settings.Configuration);
        _options.Password = settings.Password;
        _options.ClientName = "pluginhost";

        // A command while disconnected fails at once (the embedded state answers) instead of waiting in a backlog.
        _options.BacklogPolicy = BacklogPolicy.FailFast;

        // Try to reconnect often enough that a restarted Redis is used again within seconds.
        _options.ReconnectRetryPolicy = new ExponentialRetry(250, 2000);
    }

    /// <summary>How long startup waits for the first connection, so an instance whose Redis is up counts there from its first request.</summary>
    public static TimeSpan FirstConnectionWait { get; } = TimeSpan.FromSeconds(3);

    private bool IsReachable => Volatile.Read(ref _status) == Reachable;

    /// <summary>Connects (in the background; waits at most <see cref="FirstConnectionWait"/> for the first attempt) and starts the refresh loop.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _loop ??= Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        try
        {
            await _firstAttempt.Task.WaitAsync(FirstConnectionWait, cancellationToken);
        }
        catch (TimeoutException)
        {
            // Still connecting: the embedded state answers until it does.
        }
    }

    public bool IsCoolingDown(string deployment, DateTimeOffset now, out DateTimeOffset until)
    {
        _local.IsCoolingDown(deployment, now, out var own);
        var shared = View(deployment).Cooldown(out _);
        until = own > shared ? own : shared;
        return until > now;
    }

    public string? CooldownReason(string deployment)
    {
        var now = DateTimeOffset.UtcNow;
        _local.IsCoolingDown(deployment, now, out var own);
        var shared = View(deployment).Cooldown(out var sharedReason);
        return shared > own && shared > now ? sharedReason : _local.CooldownReason(deployment);
    }

    public DeploymentUsage Usage(string deployment, DateTimeOffset now)
    {
        var own = _local.Usage(deployment, now);
        if (!IsReachable)
        {
            return own;
        }

        var shared = View(deployment).Usage(Minute(now));
        return new DeploymentUsage(Math.Max(own.Requests, shared.Requests), Math.Max(own.Tokens, shared.Tokens), Math.Max(own.Failures, shared.Failures));
    }

    public async ValueTask CoolDownAsync(string deployment, DateTimeOffset until, string reason)
    {
        await _local.CoolDownAsync(deployment, until, reason);
        var now = DateTimeOffset.UtcNow;
        if (until <= now || !TryDatabase(out var db))
        {
            return;
        }

        try
        {
            await db.StringSetAsync(Key(deployment, "cooldown"), CooldownValue(until, reason), until - now);
            View(deployment).Observe(until, reason);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            Lost(ex.Message);
        }
    }

    public async ValueTask<long> AddFailureAsync(string deployment, DateTimeOffset now)
    {
        var own = await _local.AddFailureAsync(deployment, now);
        if (!TryDatabase(out var db))
        {
            return own;
        }

        try
        {
            var minute = Minute(now);
            var failures = await IncrementAsync(db, Key(deployment, "failures", minute), 1);
            View(deployment).Observe(minute, failures: failures);
            return failures;
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            Lost(ex.Message);
            return own;
        }
    }

    public async ValueTask<bool> TryTakeRequestAsync(string deployment, int? rpm, int? tpm, DateTimeOffset now)
    {
        if (!TryDatabase(out var db))
        {
            return await _local.TryTakeRequestAsync(deployment, rpm, tpm, now);
        }

        // Tokens are known only after an answer: checked against this minute's last known total.
        if (tpm is { } tokens && Usage(deployment, now).Tokens >= tokens)
        {
            return false;
        }

        try
        {
            var minute = Minute(now);
            var key = Key(deployment, "requests", minute);
            var requests = await IncrementAsync(db, key, 1);
            if (rpm is { } limit && requests > limit)
            {
                // Over the limit: give the slot back; whoever passed first keeps it, so exactly rpm are served.
                _ = db.StringDecrementAsync(key, flags: CommandFlags.FireAndForget);
                View(deployment).Observe(minute, requests: limit);
                return false;
            }

            View(deployment).Observe(minute, requests: requests);
            await _local.TryTakeRequestAsync(deployment, null, null, now);
            return true;
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            Lost(ex.Message);
            return await _local.TryTakeRequestAsync(deployment, rpm, tpm, now);
        }
    }

    /// <summary>Counts the tokens in Redis without making the answer wait for it: nothing on the request path needs the total.</summary>
    public async ValueTask AddTokensAsync(string deployment, long tokens, DateTimeOffset now)
    {
        await _local.AddTokensAsync(deployment, tokens, now);
        if (TryDatabase(out var db))
        {
            _ = AddSharedTokensAsync(db, deployment, tokens, Minute(now));
        }
    }

    public string Describe() => Volatile.Read(ref _status) switch
    {
        Reachable => $"redis {_settings.Display} (connected)",
        Unreachable => $"redis {_settings.Display} (unreachable: using in-process state)",
        _ => $"redis {_settings.Display} (connecting: using in-process state)",
    };

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        _stopping.Dispose();
    }

    /// <summary>The key of <paramref name="deployment"/>'s <paramref name="what"/> (in <paramref name="minute"/> for counters).</summary>
    internal static string Key(string deployment, string what, long? minute = null) =>
        minute is { } m ? $"{Prefix}{deployment}:{what}:{m.ToString(CultureInfo.InvariantCulture)}" : $"{Prefix}{deployment}:{what}";

    internal static long Minute(DateTimeOffset now) => now.ToUnixTimeSeconds() / 60;

    private static string CooldownValue(DateTimeOffset until, string reason) => $"{until.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}|{reason}";

    /// <summary>
    /// INCRBY, and EXPIRE (not awaited) by whichever increment created the counter, so a counter outlives its minute
    /// only briefly. Once per counter, not per request: Redis does half the work it did with an EXPIRE on every call.
    /// </summary>
    private static async Task<long> IncrementAsync(IDatabase db, string key, long by)
    {
        var value = await db.StringIncrementAsync(key, by);
        if (value == by)
        {
            _ = db.KeyExpireAsync(key, CounterLifetime, CommandFlags.FireAndForget);
        }

        return value;
    }

    private async Task AddSharedTokensAsync(IDatabase db, string deployment, long tokens, long minute)
    {
        try
        {
            var total = await IncrementAsync(db, Key(deployment, "tokens", minute), tokens);
            View(deployment).Observe(minute, tokens: total);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            Lost(ex.Message);
        }
    }

    private static bool IsStoreFailure(Exception ex) => ex is RedisException or ObjectDisposedException;

    private bool TryDatabase(out IDatabase db)
    {
        if (IsReachable && _redis is { } redis)
        {
            db = redis.GetDatabase();
            return true;
        }

        db = null!;
        return false;
    }

    /// <summary>What this instance knows from Redis about <paramref name="deployment"/>; one seen for the first time is read at once.</summary>
    private SharedView View(string deployment)
    {
        if (_shared.TryGetValue(deployment, out var view))
        {
            return view;
        }

        view = _shared.GetOrAdd(deployment, static _ => new SharedView());
        if (IsReachable)
        {
            _ = RefreshAsync([deployment]);
        }

        return view;
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            await ConnectAsync();
        }
        finally
        {
            _firstAttempt.TrySetResult();
        }

        using var timer = new PeriodicTimer(RefreshInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                if (IsReachable)
                {
                    await RefreshAsync([.. _shared.Keys]);
                }
                else if (_redis is null)
                {
                    await ConnectAsync();
                }
                else
                {
                    await ProbeAsync(_redis);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task ConnectAsync()
    {
        try
        {
            // abortConnect=false: returns after the first attempt, reachable or not, and keeps reconnecting by itself.
            var redis = await ConnectionMultiplexer.ConnectAsync(_options);
            redis.ConnectionFailed += (_, e) => Lost(e.Exception?.Message ?? e.FailureType.ToString());
            _redis = redis;
            await ProbeAsync(redis);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A configuration the client refuses, a name that does not resolve: the loop tries again in a second.
            Lost(ex.Message);
        }
    }

    /// <summary>Redis answers again: shared state resumes, starting with the cooldowns this instance set while it was gone.</summary>
    private async Task ProbeAsync(ConnectionMultiplexer redis)
    {
        if (!redis.IsConnected)
        {
            Lost("not connected");
            return;
        }

        try
        {
            var db = redis.GetDatabase();
            await db.PingAsync();
            var now = DateTimeOffset.UtcNow;
            foreach (var deployment in _shared.Keys)
            {
                if (_local.IsCoolingDown(deployment, now, out var until) && _local.CooldownReason(deployment) is { } reason)
                {
                    await db.StringSetAsync(Key(deployment, "cooldown"), CooldownValue(until, reason), until - now);
                }
            }

            var previous = Interlocked.Exchange(ref _status, Reachable);
            if (previous == Unreachable)
            {
                Log.RedisBack(_logger, _settings.Display);
            }
            else if (previous == Starting)
            {
                Log.RedisConnected(_logger, _settings.Display);
            }

            await RefreshAsync([.. _shared.Keys]);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            Lost(ex.Message);
        }
    }

    /// <summary>Redis cannot be used: from now on the embedded state answers; said once per loss.</summary>
    private void Lost(string why)
    {
        if (Interlocked.Exchange(ref _status, Unreachable) != Unreachable)
        {
            Log.RedisLost(_logger, _settings.Display, why);
        }
    }

    /// <summary>One MGET for the cooldown and this minute's counters of each of <paramref name="deployments"/>.</summary>
    private async Task RefreshAsync(string[] deployments)
    {
        if (deployments.Length == 0 || !TryDatabase(out var db))
        {
            return;
        }

        var minute = Minute(DateTimeOffset.UtcNow);
        var keys = new RedisKey[deployments.Length * 4];
        for (var i = 0; i < deployments.Length; i++)
        {
            keys[i * 4] = Key(deployments[i], "cooldown");
            keys[(i * 4) + 1] = Key(deployments[i], "requests", minute);
            keys[(i * 4) + 2] = Key(deployments[i], "tokens", minute);
            keys[(i * 4) + 3] = Key(deployments[i], "failures", minute);
        }

        try
        {
            var values = await db.StringGetAsync(keys);
            for (var i = 0; i < deployments.Length; i++)
            {
                var view = _shared.GetOrAdd(deployments[i], static _ => new SharedView());
                view.Refreshed(minute, ParseCooldown(values[i * 4]), Count(values[(i * 4) + 1]), Count(values[(i * 4) + 2]), Count(values[(i * 4) + 3]));
            }
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            Lost(ex.Message);
        }

        static long Count(RedisValue value) => value.TryParse(out long count) ? count : 0;

        static (DateTimeOffset Until, string? Reason) ParseCooldown(RedisValue value)
        {
            var text = (string?)value;
            var bar = text?.IndexOf('|', StringComparison.Ordinal) ?? -1;
            if (text is null || bar < 0 || !long.TryParse(text.AsSpan(0, bar), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
            {
                return (default, null);
            }

            return (DateTimeOffset.FromUnixTimeMilliseconds(ms), text[(bar + 1)..]);
        }
    }

    /// <summary>What this instance last read from Redis about one deployment, raised by its own writes in between (locked on itself).</summary>
    private sealed class SharedView
    {
        private readonly Lock _gate = new();
        private long _minute;
        private long _requests;
        private long _tokens;
        private long _failures;
        private DateTimeOffset _cooldownUntil;
        private string? _cooldownReason;

        public DateTimeOffset Cooldown(out string? reason)
        {
            lock (_gate)
            {
                reason = _cooldownReason;
                return _cooldownUntil;
            }
        }

        public DeploymentUsage Usage(long minute)
        {
            lock (_gate)
            {
                return _minute == minute ? new DeploymentUsage(_requests, _tokens, _failures) : default;
            }
        }

        /// <summary>A read from Redis: the store's values as they were then.</summary>
        public void Refreshed(long minute, (DateTimeOffset Until, string? Reason) cooldown, long requests, long tokens, long failures)
        {
            lock (_gate)
            {
                (_cooldownUntil, _cooldownReason) = cooldown;
                if (minute >= _minute)
                {
                    (_minute, _requests, _tokens, _failures) = (minute, requests, tokens, failures);
                }
            }
        }

        /// <summary>A count Redis returned to one of this instance's writes: newer than the last read.</summary>
        public void Observe(long minute, long? requests = null, long? tokens = null, long? failures = null)
        {
            lock (_gate)
            {
                if (minute != _minute)
                {
                    if (minute < _minute)
                    {
                        return;
                    }

                    (_minute, _requests, _tokens, _failures) = (minute, 0, 0, 0);
                }

                _requests = Math.Max(_requests, requests ?? 0);
                _tokens = Math.Max(_tokens, tokens ?? 0);
                _failures = Math.Max(_failures, failures ?? 0);
            }
        }

        public void Observe(DateTimeOffset until, string reason)
        {
            lock (_gate)
            {
                if (until > _cooldownUntil)
                {
                    (_cooldownUntil, _cooldownReason) = (until, reason);
                }
            }
        }
    }
}
