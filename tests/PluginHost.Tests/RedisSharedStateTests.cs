using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using PluginHost.Configuration;
using PluginHost.Routing;
using PluginHost.Tests.Infrastructure;
using StackExchange.Redis;

namespace PluginHost.Tests;

/// <summary>
/// The router's state shared through a real RESP server, once with Garnet hosted in this process and once with
/// <c>redis-server</c> (skipped with how to install it when it is missing, failed when PLUGINHOST_REQUIRE_REDIS=1):
/// two real proxy instances on one store share cooldowns and rpm limits, and survive the store's loss.
/// </summary>
[TestFixtureSource(nameof(Stores))]
public sealed class RedisSharedStateTests(string store)
{
    public static readonly string[] Stores = [RespServer.Garnet, RespServer.RedisServer];

    private RespServer? _server;

    private RespServer Server => _server ?? throw new InvalidOperationException("No store started.");

    [OneTimeSetUp]
    public void StoreIsInstalled() => RespServer.RequireInstalled(store);

    [SetUp]
    public async Task StartStore() => _server = await RespServer.StartAsync(store);

    [TearDown]
    public async Task StopStore()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    [Test]
    public async Task A_cooldown_triggered_through_one_instance_is_honoured_by_the_other()
    {
        var config = SharedConfig(Server, Deployment("pair", "bad", "fail:500") + Deployment("pair", "good"), "  allowed_fails: 1\n  cooldown_time: 60\n");
        await using var a = await StartConnectedAsync(config);
        await using var b = await StartConnectedAsync(config);

        // Through A until it cools `bad` down; its failures are retried on `good`, so every answer is a 200.
        var throughA = new List<Answer>();
        for (var i = 0; i < 40 && await StateOf(a, "bad") != "cooling_down"; i++)
        {
            throughA.Add(await Ask(a, "pair", "default", stream: i % 2 == 0));
        }

        await Wait.UntilAsync(async () => await StateOf(b, "bad") == "cooling_down", "instance B to see `bad` cooling down", TimeSpan.FromSeconds(5));
        var throughB = new List<Answer>();
        for (var i = 0; i < 10; i++)
        {
            throughB.Add(await Ask(b, "pair", "default", stream: i % 2 == 0));
        }

        var badOnB = await DeploymentOf(b, "bad");
        var readinessB = await b.Http.GetFromJsonAsync<JsonElement>("/health/readiness");
        Assert.Multiple(() =>
        {
            Assert.That(throughA.Select(x => x.Status), Is.All.EqualTo(HttpStatusCode.OK));
            Assert.That(badOnB.GetProperty("cooldown_reason").GetString(), Does.Contain("allowed_fails 1"));
            Assert.That(throughB.Select(x => x.Status), Is.All.EqualTo(HttpStatusCode.OK));
            Assert.That(throughB.Select(x => x.Header("x-litellm-model-id")), Is.All.EqualTo("good"));
            Assert.That(throughB.Select(x => x.Header("x-litellm-attempted-retries")), Is.All.EqualTo("0"), "B never tries `bad`");
            Assert.That(badOnB.GetProperty("successes").GetInt64() + badOnB.GetProperty("failures").GetInt64(), Is.Zero, "B sent nothing to `bad`");
            Assert.That(readinessB.GetProperty("deployments_cooling_down")[0].GetString(), Does.StartWith("pair/bad"));
        });
    }

    [Test]
    public async Task An_rpm_limit_holds_across_both_instances()
    {
        const int limit = 4;
        var config = SharedConfig(Server, Deployment("limited", "l", extra: $"      rpm: {limit}\n"));
        await using var a = await StartConnectedAsync(config);
        await using var b = await StartConnectedAsync(config);

        // The limit is per minute: start with at least 5 s of this one left, so every request falls in it.
        var now = DateTimeOffset.UtcNow;
        if (now.Second >= 55)
        {
            await Task.Delay(TimeSpan.FromSeconds(60 - now.Second) - TimeSpan.FromMilliseconds(now.Millisecond) + TimeSpan.FromMilliseconds(50));
        }

        var minute = RedisRouterState.Minute(DateTimeOffset.UtcNow);
        var answers = new List<(string Instance, Answer Answer)>();
        for (var i = 0; i < (2 * limit) + 2; i++)
        {
            var (name, proxy) = i % 2 == 0 ? ("A", a) : ("B", b);
            answers.Add((name, await Ask(proxy, "limited", "ok", stream: i / 2 % 2 == 1)));
        }

        Assert.That(RedisRouterState.Minute(DateTimeOffset.UtcNow), Is.EqualTo(minute), "the requests took more than 5 s");
        var served = answers.Where(x => x.Answer.Status == HttpStatusCode.OK).ToList();
        var refused = answers.Where(x => x.Answer.Status != HttpStatusCode.OK).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(served, Has.Count.EqualTo(limit), string.Join(", ", answers.Select(x => $"{x.Instance}:{(int)x.Answer.Status}")));
            Assert.That(served.Select(x => x.Instance).Distinct(), Is.EquivalentTo(new[] { "A", "B" }), "both instances served part of the limit");
            Assert.That(refused.Select(x => x.Answer.Status), Is.All.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That(refused.Select(x => x.Answer.RetryAfter), Is.All.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60)));
            Assert.That(refused.Select(x => x.Answer.Body), Is.All.Contain("rpm/tpm limit"));
        });
    }

    [Test]
    public async Task Losing_the_store_fails_no_request_and_both_instances_share_again_when_it_returns()
    {
        var config = SharedConfig(
            Server,
            Deployment("pair", "bad", "fail:500") + Deployment("pair", "good") + Deployment("later", "bad2", "fail:500") + Deployment("later", "good2"),
            "  allowed_fails: 1\n  cooldown_time: 60\n");
        await using var a = await StartConnectedAsync(config);
        await using var b = await StartConnectedAsync(config);

        await Server.StopAsync();
        var during = new List<Answer>();
        await Wait.UntilAsync(
            async () =>
            {
                during.Add(await Ask(a, "pair", "default", stream: during.Count % 4 == 0, Bounded()));
                during.Add(await Ask(b, "pair", "default", stream: during.Count % 4 == 1, Bounded()));
                return (await StateOf(a)).Contains("unreachable", StringComparison.Ordinal) && (await StateOf(b)).Contains("unreachable", StringComparison.Ordinal);
            },
            "both instances to find the store gone",
            TimeSpan.FromSeconds(15));
        for (var i = 0; i < 10; i++)
        {
            during.Add(await Ask(i % 2 == 0 ? a : b, "pair", "default", stream: i % 3 == 0, Bounded()));
        }

        var readinessA = await a.Http.GetFromJsonAsync<JsonElement>("/health/readiness");
        Assert.Multiple(() =>
        {
            Assert.That(during.Select(x => x.Status), Is.All.EqualTo(HttpStatusCode.OK), "no request fails while the store is gone");
            Assert.That(readinessA.GetProperty("router_state").GetString(), Is.EqualTo($"redis {Server.Endpoint} (unreachable: using in-process state)"));
            Assert.That(a.Logs.Lines.Count(l => l.Contains("is unreachable", StringComparison.Ordinal)), Is.EqualTo(1), string.Join("\n", a.Logs.Lines));
            Assert.That(b.Logs.Lines.Count(l => l.Contains("is unreachable", StringComparison.Ordinal)), Is.EqualTo(1), string.Join("\n", b.Logs.Lines));
        });

        // The store comes back on the same port, empty: both instances use it again, and share cooldowns again.
        await Server.StartAsync();
        await Wait.UntilAsync(async () => await IsConnected(a) && await IsConnected(b), "both instances to use the restarted store", TimeSpan.FromSeconds(20));
        for (var i = 0; i < 40 && await StateOf(a, "bad2") != "cooling_down"; i++)
        {
            Assert.That((await Ask(a, "later", "default", stream: false, Bounded())).Status, Is.EqualTo(HttpStatusCode.OK));
        }

        await Wait.UntilAsync(async () => await StateOf(b, "bad2") == "cooling_down", "instance B to see `bad2`, cooled down through A, cooling down", TimeSpan.FromSeconds(5));
        Assert.Multiple(() =>
        {
            Assert.That(a.Logs.Lines.Count(l => l.Contains("reachable again", StringComparison.Ordinal)), Is.EqualTo(1), string.Join("\n", a.Logs.Lines));
            Assert.That(b.Logs.Lines.Count(l => l.Contains("reachable again", StringComparison.Ordinal)), Is.EqualTo(1), string.Join("\n", b.Logs.Lines));
        });
    }

    [Test]
    public async Task Two_states_taking_requests_at_once_serve_exactly_the_rpm_limit()
    {
        await using var one = await StartStateAsync(Server);
        await using var two = await StartStateAsync(Server);
        var deployment = "exact-" + Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;

        var taken = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => (i % 2 == 0 ? one : two).TryTakeRequestAsync(deployment, 10, null, now).AsTask()));

        Assert.That(taken.Count(t => t), Is.EqualTo(10));
        await Wait.UntilAsync(() => one.Usage(deployment, now).Requests == 10 && two.Usage(deployment, now).Requests == 10, "both states to read 10 requests this minute");
    }

    [Test]
    public async Task A_cooldown_is_seen_at_once_by_the_state_that_set_it_and_within_a_refresh_by_the_other()
    {
        await using var one = await StartStateAsync(Server);
        await using var two = await StartStateAsync(Server);
        var deployment = "cool-" + Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;
        Assert.That(two.IsCoolingDown(deployment, now, out _), Is.False);

        await one.CoolDownAsync(deployment, now.AddSeconds(30), "testing");

        Assert.That(one.IsCoolingDown(deployment, now, out var until), Is.True);
        Assert.That(until, Is.EqualTo(now.AddSeconds(30)));
        await Wait.UntilAsync(() => two.IsCoolingDown(deployment, DateTimeOffset.UtcNow, out _), "the other state to see the cooldown", TimeSpan.FromSeconds(5));
        Assert.That(two.CooldownReason(deployment), Is.EqualTo("testing"));
    }

    [Test]
    public async Task The_state_lives_in_prefixed_keys_that_expire()
    {
        await using var state = await StartStateAsync(Server);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Server.Endpoint);
        var db = redis.GetDatabase();
        var deployment = "keys-" + Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;
        var minute = RedisRouterState.Minute(now);

        await state.CoolDownAsync(deployment, now.AddSeconds(30), "testing");
        Assert.That(await state.TryTakeRequestAsync(deployment, 5, null, now), Is.True);
        await state.AddTokensAsync(deployment, 15, now);
        Assert.That(await state.AddFailureAsync(deployment, now), Is.EqualTo(1));

        var cooldown = $"pluginhost:{deployment}:cooldown";
        string[] counters = [$"pluginhost:{deployment}:requests:{minute}", $"pluginhost:{deployment}:tokens:{minute}", $"pluginhost:{deployment}:failures:{minute}"];
        await Wait.UntilAsync(async () => (await db.KeyTimeToLiveAsync(counters[^1])) is not null, "the counters' expiry");
        Assert.Multiple(async () =>
        {
            Assert.That((string?)await db.StringGetAsync(cooldown), Is.EqualTo($"{now.AddSeconds(30).ToUnixTimeMilliseconds()}|testing"));
            Assert.That(await db.KeyTimeToLiveAsync(cooldown), Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)));
            Assert.That((await db.StringGetAsync(counters.Select(k => (RedisKey)k).ToArray())).Select(v => (long)v), Is.EqualTo(new long[] { 1, 15, 1 }));
            foreach (var counter in counters)
            {
                Assert.That(await db.KeyTimeToLiveAsync(counter), Is.InRange(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120)), counter);
            }
        });
    }

    /// <summary>A request bound: while the store is gone no request may wait long, so one that hangs fails the test.</summary>
    private static CancellationToken Bounded() => new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token;

    private static async Task<RedisRouterState> StartStateAsync(RespServer server)
    {
        var endpoint = server.Endpoint;
        var state = new RedisRouterState(new RedisSettings($"{endpoint},abortConnect=false,connectTimeout=2000,syncTimeout=1000,asyncTimeout=1000", endpoint), NullLogger<RedisRouterState>.Instance);
        await state.StartAsync(CancellationToken.None);
        Assert.That(state.Describe(), Is.EqualTo($"redis {endpoint} (connected)"));
        return state;
    }

    /// <summary>A proxy on the shared configuration, once it uses the store.</summary>
    private static async Task<TestProxy> StartConnectedAsync(string config)
    {
        var proxy = await TestProxy.StartAsync(config, "RouterHandlers");
        await Wait.UntilAsync(() => IsConnected(proxy), "the proxy to connect to the store");
        return proxy;
    }

    private static async Task<bool> IsConnected(TestProxy proxy) => (await StateOf(proxy)).EndsWith("(connected)", StringComparison.Ordinal);

    /// <summary><c>/router</c>'s <c>state</c>: where the router's state lives.</summary>
    private static async Task<string> StateOf(TestProxy proxy) => (await proxy.Http.GetFromJsonAsync<JsonElement>("/router")).GetProperty("state").GetString()!;

    /// <summary><c>/router</c>'s state of one deployment: healthy, cooling_down or unavailable.</summary>
    private static async Task<string?> StateOf(TestProxy proxy, string deployment) => (await DeploymentOf(proxy, deployment)).GetProperty("state").GetString();

    private static async Task<JsonElement> DeploymentOf(TestProxy proxy, string deployment) =>
        (await proxy.Http.GetFromJsonAsync<JsonElement>("/router")).GetProperty("deployments").EnumerateArray().Single(d => d.GetProperty("id").GetString() == deployment);

    internal static string SharedConfig(RespServer server, string deployments, string router = "") =>
        Config(deployments, router + $"  redis_host: 127.0.0.1\n  redis_port: {server.Port}\n");

    internal static string Deployment(string group, string name, string behaviour = "ok", string extra = "") =>
        $"  - model_name: {group}\n    litellm_params:\n      model: flaky/{name}\n      name: {name}\n      behaviour: \"{behaviour}\"\n{extra}    model_info:\n      id: {name}\n";

    internal static string Config(string deployments, string router) =>
        "model_list:\n" + deployments
        + "litellm_settings:\n  custom_provider_map:\n    - provider: flaky\n      custom_handler: RouterHandlers\n"
        + "router_settings:\n" + router
        + $"general_settings:\n  master_key: {TestProxy.MasterKey}\n";

    internal static async Task<Answer> Ask(TestProxy proxy, string model, string message, bool stream, CancellationToken cancellationToken = default)
    {
        var body = JsonSerializer.Serialize(new { model, stream, messages = new[] { new { role = "user", content = message } } });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await proxy.Http.SendAsync(request, cancellationToken);
        return new Answer(
            response.StatusCode,
            await response.Content.ReadAsStringAsync(cancellationToken),
            response.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(",", h.Value)),
            response.Headers.RetryAfter?.Delta);
    }

    /// <summary>An answer's status, body, headers and Retry-After.</summary>
    internal sealed record Answer(HttpStatusCode Status, string Body, Dictionary<string, string> Headers, TimeSpan? RetryAfter)
    {
        public string? Header(string name) => Headers.GetValueOrDefault(name);
    }
}

/// <summary>Redis named but not there: the proxy needs no store to serve.</summary>
public sealed class RedisUnreachableTests
{
    [Test]
    public async Task A_proxy_whose_redis_is_unreachable_at_start_serves_on_its_own_state_and_says_so_once()
    {
        var port = RespServer.FreePort();
        var config = RedisSharedStateTests.Config(
            RedisSharedStateTests.Deployment("pair", "bad", "fail:500") + RedisSharedStateTests.Deployment("pair", "good") + RedisSharedStateTests.Deployment("limited", "l", extra: "      rpm: 2\n"),
            $"  allowed_fails: 1\n  cooldown_time: 60\n  redis_host: 127.0.0.1\n  redis_port: {port}\n");
        await using var proxy = await TestProxy.StartAsync(config, "RouterHandlers");

        var pair = new List<RedisSharedStateTests.Answer>();
        for (var i = 0; i < 12; i++)
        {
            pair.Add(await RedisSharedStateTests.Ask(proxy, "pair", "default", stream: i % 2 == 0));
        }

        var limited = new List<RedisSharedStateTests.Answer>();
        for (var i = 0; i < 3; i++)
        {
            limited.Add(await RedisSharedStateTests.Ask(proxy, "limited", "ok", stream: false));
        }

        // "Once": the background loop tries Redis again every second; let it try twice more without a second line.
        await Task.Delay(TimeSpan.FromSeconds(2.2));
        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/router");
        var readiness = await proxy.Http.GetFromJsonAsync<JsonElement>("/health/readiness");
        var bad = status.GetProperty("deployments").EnumerateArray().Single(d => d.GetProperty("id").GetString() == "bad");
        Assert.Multiple(() =>
        {
            Assert.That(pair.Select(a => a.Status), Is.All.EqualTo(HttpStatusCode.OK));
            Assert.That(bad.GetProperty("state").GetString(), Is.EqualTo("cooling_down"), "cooldowns work in process");
            Assert.That(limited.Select(a => a.Status), Is.EqualTo(new[] { HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests }), "rpm is enforced in process");
            Assert.That(status.GetProperty("state").GetString(), Is.EqualTo($"redis 127.0.0.1:{port} (unreachable: using in-process state)"));
            Assert.That(readiness.GetProperty("router_state").GetString(), Does.Contain("unreachable"));
            Assert.That(readiness.GetProperty("status").GetString(), Is.EqualTo("healthy"), "a missing Redis does not take the instance out of a load balancer");
            Assert.That(proxy.Logs.Lines.Count(l => l.Contains("is unreachable", StringComparison.Ordinal)), Is.EqualTo(1), string.Join("\n", proxy.Logs.Lines));
        });
    }

    [Test]
    public async Task A_reload_that_names_another_redis_applies_the_rest_and_says_once_that_the_state_stays_until_a_restart()
    {
        var port = RespServer.FreePort();
        var deployments = RedisSharedStateTests.Deployment("limited", "l", extra: "      rpm: 2\n");
        await using var proxy = await TestProxy.StartAsync(RedisSharedStateTests.Config(deployments, "  num_retries: 0\n"), "RouterHandlers");
        const string Warning = "for the router state; it stays in this process until the proxy restarts";

        // Redis named, and the rpm raised: the rpm applies, the state stays in process, and the log says so once.
        var withRedis = RedisSharedStateTests.Config(deployments.Replace("rpm: 2", "rpm: 5"), $"  num_retries: 0\n  redis_host: 127.0.0.1\n  redis_port: {port}\n");
        await File.WriteAllTextAsync(proxy.ConfigPath, withRedis);
        await proxy.ReloadAsync();
        await File.WriteAllTextAsync(proxy.ConfigPath, withRedis + "# the same Redis again\n");
        await proxy.ReloadAsync();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            statuses.Add((await RedisSharedStateTests.Ask(proxy, "limited", "ok", stream: false)).Status);
        }

        var state = (await proxy.Http.GetFromJsonAsync<JsonElement>("/router")).GetProperty("state").GetString();
        Assert.Multiple(() =>
        {
            Assert.That(statuses, Is.EqualTo(Enumerable.Repeat(HttpStatusCode.OK, 5).Append(HttpStatusCode.TooManyRequests)), "the new rpm applies");
            Assert.That(state, Does.Not.Contain("redis"), "the state stays in process");
            Assert.That(proxy.Logs.Lines.Where(l => l.Contains(Warning, StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1).And.Some.Contains($"Redis at 127.0.0.1:{port}"), string.Join("\n", proxy.Logs.Lines));
        });

        // Back to the configuration the state was chosen from: nothing more to say.
        await File.WriteAllTextAsync(proxy.ConfigPath, RedisSharedStateTests.Config(deployments, "  num_retries: 0\n"));
        await proxy.ReloadAsync();
        Assert.That(proxy.Logs.Lines.Count(l => l.Contains("until the proxy restarts", StringComparison.Ordinal)), Is.EqualTo(1));
    }
}
