using System.Collections.Concurrent;

namespace PluginHost.Routing;

/// <summary>The router's state in this process only: what every instance has without Redis, and the fallback when Redis is down.</summary>
internal sealed class InProcessRouterState : IRouterState
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public bool IsCoolingDown(string deployment, DateTimeOffset now, out DateTimeOffset until)
    {
        until = _entries.TryGetValue(deployment, out var entry) ? entry.CooldownUntil : default;
        return until > now;
    }

    public ValueTask CoolDownAsync(string deployment, DateTimeOffset until, string reason)
    {
        var entry = Get(deployment);
        lock (entry)
        {
            if (until > entry.CooldownUntil)
            {
                entry.CooldownUntil = until;
                entry.CooldownReason = reason;
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<long> AddFailureAsync(string deployment, DateTimeOffset now)
    {
        var entry = Get(deployment);
        lock (entry)
        {
            entry.Roll(now);
            return ValueTask.FromResult(++entry.Failures);
        }
    }

    public ValueTask<bool> TryTakeRequestAsync(string deployment, int? rpm, int? tpm, DateTimeOffset now)
    {
        var entry = Get(deployment);
        lock (entry)
        {
            entry.Roll(now);
            if ((rpm is { } requests && entry.Requests >= requests) || (tpm is { } tokens && entry.Tokens >= tokens))
            {
                return ValueTask.FromResult(false);
            }

            entry.Requests++;
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask AddTokensAsync(string deployment, long tokens, DateTimeOffset now)
    {
        var entry = Get(deployment);
        lock (entry)
        {
            entry.Roll(now);
            entry.Tokens += tokens;
        }

        return ValueTask.CompletedTask;
    }

    public DeploymentUsage Usage(string deployment, DateTimeOffset now)
    {
        if (!_entries.TryGetValue(deployment, out var entry))
        {
            return default;
        }

        lock (entry)
        {
            entry.Roll(now);
            return new DeploymentUsage(entry.Requests, entry.Tokens, entry.Failures);
        }
    }

    public string? CooldownReason(string deployment) =>
        _entries.TryGetValue(deployment, out var entry) && entry.CooldownUntil > DateTimeOffset.UtcNow ? entry.CooldownReason : null;

    public string Describe() => "in-process";

    private Entry Get(string deployment) => _entries.GetOrAdd(deployment, static _ => new Entry());

    /// <summary>One deployment's counters for the current minute (locked on itself).</summary>
    private sealed class Entry
    {
        public long Minute;
        public long Requests;
        public long Tokens;
        public long Failures;
        public DateTimeOffset CooldownUntil;
        public string? CooldownReason;

        public void Roll(DateTimeOffset now)
        {
            var minute = now.ToUnixTimeSeconds() / 60;
            if (minute != Minute)
            {
                (Minute, Requests, Tokens, Failures) = (minute, 0, 0, 0);
            }
        }
    }
}
