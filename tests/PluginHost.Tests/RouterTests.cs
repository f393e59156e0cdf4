using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// The router through the real host, with deterministic deployments (RouterHandlers:Flaky) and the OpenAI SDK
/// or raw HTTP as the client; each behaviour in both plain and streaming mode.
/// </summary>
public sealed class RouterTests
{
    /// <summary>A deployment of group <paramref name="group"/> named <paramref name="name"/> behaving as <paramref name="behaviour"/>.</summary>
    private static string Deployment(string group, string name, string behaviour = "ok", string extra = "") =>
        $"  - model_name: {group}\n    litellm_params:\n      model: flaky/{name}\n      name: {name}\n      behaviour: \"{behaviour}\"\n{extra}    model_info:\n      id: {name}\n";

    private static string Config(string deployments, string router = "") =>
        "model_list:\n" + deployments
        + "litellm_settings:\n  custom_provider_map:\n    - provider: flaky\n      custom_handler: RouterHandlers\n"
        + (router.Length > 0 ? "router_settings:\n" + router : "")
        + $"general_settings:\n  master_key: {TestProxy.MasterKey}\n";

    private static Task<TestProxy> StartAsync(string deployments, string router = "") => TestProxy.StartAsync(Config(deployments, router), "RouterHandlers");

    private static string Key() => Guid.NewGuid().ToString("N")[..8];

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_deployment_failing_twice_is_retried_until_it_answers(bool stream)
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a"));

        var answer = await Ask(proxy, "flaky", $"fail-first:2:500:{Key()}", stream);

        Assert.Multiple(() =>
        {
            Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.OK), answer.Body);
            Assert.That(answer.Text, Is.EqualTo("a:ok after 2"));
            Assert.That(answer.Header("x-litellm-attempted-retries"), Is.EqualTo("2"));
            Assert.That(answer.Header("x-litellm-model-id"), Is.EqualTo("a"));
            Assert.That(answer.Header("x-litellm-model-group"), Is.EqualTo("flaky"));
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Num_retries_bounds_the_retries(bool stream)
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a"), "  num_retries: 1\n");

        var answer = await Ask(proxy, "flaky", $"fail-first:2:503:{Key()}", stream);

        Assert.Multiple(() =>
        {
            Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable), answer.Body);
            Assert.That(answer.Body, Does.Contain("a failed with 503 (2)"), "two attempts: the first and one retry");

            // The error carries the router's headers, as an answer does.
            Assert.That(answer.Header("x-litellm-attempted-retries"), Is.EqualTo("1"));
            Assert.That(answer.Header("x-litellm-max-retries"), Is.EqualTo("1"));
            Assert.That(answer.Header("x-litellm-model-id"), Is.EqualTo("a"));
            Assert.That(answer.Header("x-litellm-model-group"), Is.EqualTo("flaky"));
        });
    }

    [TestCase(400)]
    [TestCase(401)]
    [TestCase(403)]
    [TestCase(404)]
    public async Task Client_errors_are_not_retried(int status)
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a"));

        var answer = await Ask(proxy, "flaky", $"fail-first:1:{status}:{Key()}", stream: false);

        Assert.That((int)answer.Status, Is.EqualTo(status), answer.Body);
    }

    [TestCase(429)]
    [TestCase(408)]
    [TestCase(500)]
    [TestCase(502)]
    public async Task Rate_limits_timeouts_and_server_errors_are_retried(int status)
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a"));

        var answer = await Ask(proxy, "flaky", $"fail-first:1:{status}:{Key()}", stream: false);

        Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.OK), answer.Body);
        Assert.That(answer.Header("x-litellm-attempted-retries"), Is.EqualTo("1"));
    }

    [Test]
    public async Task Retry_policy_sets_retries_per_error_class()
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a"), "  retry_policy:\n    BadRequestErrorRetries: 1\n    InternalServerErrorRetries: 0\n");

        var badRequest = await Ask(proxy, "flaky", $"fail-first:1:400:{Key()}", stream: false);
        var serverError = await Ask(proxy, "flaky", $"fail-first:1:500:{Key()}", stream: false);

        Assert.Multiple(() =>
        {
            Assert.That(badRequest.Status, Is.EqualTo(HttpStatusCode.OK), badRequest.Body);
            Assert.That(serverError.Status, Is.EqualTo(HttpStatusCode.InternalServerError), serverError.Body);
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_failing_group_falls_back_to_the_next_group(bool stream)
    {
        await using var proxy = await StartAsync(
            Deployment("primary", "p", "fail:500") + Deployment("secondary", "s"),
            "  num_retries: 1\n  fallbacks: [{\"primary\": [\"secondary\"]}]\n");

        var answer = await Ask(proxy, "primary", "default", stream);

        Assert.Multiple(() =>
        {
            Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.OK), answer.Body);
            Assert.That(answer.Text, Is.EqualTo("s:ok"));
            Assert.That(answer.Header("x-litellm-model-group"), Is.EqualTo("secondary"));
            Assert.That(answer.Header("x-litellm-attempted-fallbacks"), Is.EqualTo("1"));
            Assert.That(answer.Header("x-litellm-attempted-retries"), Is.EqualTo("1"));
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task The_OpenAI_SDK_gets_the_fallbacks_answer(bool stream)
    {
        await using var proxy = await StartAsync(
            Deployment("primary", "p", "fail:429") + Deployment("secondary", "s"),
            "  fallbacks:\n    - primary: [secondary]\n");
        var chat = proxy.Chat("primary");

        var text = stream
            ? string.Concat(await chat.CompleteChatStreamingAsync([new UserChatMessage("default")]).SelectMany(u => u.ContentUpdate.Select(p => p.Text)).ToListAsync())
            : (await chat.CompleteChatAsync([new UserChatMessage("default")])).Value.Content[0].Text;

        Assert.That(text, Is.EqualTo("s:ok"));
    }

    [TestCase("context-window", "context_window_fallbacks", "big")]
    [TestCase("content-policy", "content_policy_fallbacks", "lenient")]
    public async Task Context_window_and_content_policy_errors_go_to_their_own_fallbacks(string behaviour, string key, string expected)
    {
        await using var proxy = await StartAsync(
            Deployment("small", "small", behaviour) + Deployment("big", "big") + Deployment("lenient", "lenient") + Deployment("other", "other"),
            $"  fallbacks: [{{\"small\": [\"other\"]}}]\n  {key}: [{{\"small\": [\"{expected}\"]}}]\n");

        var plain = await Ask(proxy, "small", "default", stream: false);
        var streamed = await Ask(proxy, "small", "default", stream: true);

        Assert.Multiple(() =>
        {
            Assert.That(plain.Text, Is.EqualTo($"{expected}:ok"), plain.Body);
            Assert.That(streamed.Text, Is.EqualTo($"{expected}:ok"), streamed.Body);
            Assert.That(plain.Header("x-litellm-attempted-retries"), Is.EqualTo("0"), "a context or content error is not retried on the same group");
        });
    }

    [Test]
    public async Task A_bad_request_does_not_fall_back()
    {
        await using var proxy = await StartAsync(
            Deployment("primary", "p", "fail:400") + Deployment("secondary", "s"),
            "  fallbacks: [{\"primary\": [\"secondary\"]}]\n");

        var answer = await Ask(proxy, "primary", "default", stream: false);

        Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.BadRequest), answer.Body);
    }

    [Test]
    public async Task Max_fallbacks_bounds_the_groups_tried()
    {
        await using var proxy = await StartAsync(
            Deployment("g0", "g0", "fail:500") + Deployment("g1", "g1", "fail:500") + Deployment("g2", "g2"),
            "  num_retries: 0\n  max_fallbacks: 1\n  fallbacks: [{\"g0\": [\"g1\", \"g2\"]}]\n");

        var answer = await Ask(proxy, "g0", "default", stream: false);

        Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.InternalServerError), answer.Body);
        Assert.That(answer.Body, Does.Contain("g1 failed"), "the last error is the one fallback allowed");
    }

    [Test]
    public async Task A_deployment_that_keeps_failing_cools_down_and_the_others_take_its_requests()
    {
        await using var proxy = await StartAsync(
            Deployment("pair", "bad", "fail:500") + Deployment("pair", "good"),
            "  allowed_fails: 1\n  cooldown_time: 60\n");

        var first = new List<Answer>();
        // simple-shuffle is random: send until the bad deployment has been picked often enough to cool down (bounded).
        for (var i = 0; i < 12 || (!await IsCoolingDown(proxy, "bad") && i < 200); i++)
        {
            first.Add(await Ask(proxy, "pair", "default", stream: i % 2 == 0));
        }

        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/router");
        var after = new List<Answer>();
        for (var i = 0; i < 8; i++)
        {
            after.Add(await Ask(proxy, "pair", "default", stream: i % 2 == 0));
        }

        var bad = status.GetProperty("deployments").EnumerateArray().Single(d => d.GetProperty("id").GetString() == "bad");
        var readiness = await proxy.Http.GetFromJsonAsync<JsonElement>("/health/readiness");
        Assert.Multiple(() =>
        {
            Assert.That(first.Select(a => a.Status), Is.All.EqualTo(HttpStatusCode.OK), "every request is answered by retrying on the good deployment");
            Assert.That(bad.GetProperty("state").GetString(), Is.EqualTo("cooling_down"));
            Assert.That(bad.GetProperty("cooldown_reason").GetString(), Does.Contain("allowed_fails 1"));
            Assert.That(after.Select(a => a.Header("x-litellm-model-id")), Is.All.EqualTo("good"));
            Assert.That(after.Select(a => a.Header("x-litellm-attempted-retries")), Is.All.EqualTo("0"), "the cooled-down deployment is not tried");
            Assert.That(readiness.GetProperty("deployments_cooling_down")[0].GetString(), Does.StartWith("pair/bad"));
        });
    }

    [Test]
    public async Task A_groups_only_deployment_never_cools_down()
    {
        await using var proxy = await StartAsync(Deployment("alone", "alone", "fail:500"), "  allowed_fails: 0\n  num_retries: 0\n");

        for (var i = 0; i < 3; i++)
        {
            await Ask(proxy, "alone", "default", stream: false);
        }

        var answer = await Ask(proxy, "alone", "ok", stream: false);
        Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.OK), answer.Body);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_deployment_at_its_rpm_limit_gets_no_more_requests_this_minute(bool stream)
    {
        await using var proxy = await StartAsync(Deployment("limited", "l", extra: "      rpm: 3\n"));

        var answers = new List<Answer>();
        for (var i = 0; i < 4; i++)
        {
            answers.Add(await Ask(proxy, "limited", "ok", stream));
        }

        var refused = answers[3];
        Assert.Multiple(() =>
        {
            Assert.That(answers.Take(3).Select(a => a.Status), Is.All.EqualTo(HttpStatusCode.OK));
            Assert.That(answers[0].Header("x-ratelimit-limit-requests"), Is.EqualTo("3"));
            Assert.That(answers[2].Header("x-ratelimit-remaining-requests"), Is.EqualTo("0"));
            Assert.That(refused.Status, Is.EqualTo(HttpStatusCode.TooManyRequests), refused.Body);
            Assert.That(refused.Body, Does.Contain("limited").And.Contain("rpm/tpm limit"));
            Assert.That(refused.RetryAfter, Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60)));
        });
    }

    [Test]
    public async Task When_every_deployment_is_busy_the_request_falls_back()
    {
        await using var proxy = await StartAsync(
            Deployment("limited", "l", extra: "      rpm: 1\n") + Deployment("spare", "s"),
            "  fallbacks: [{\"limited\": [\"spare\"]}]\n");

        var first = await Ask(proxy, "limited", "ok", stream: false);
        var second = await Ask(proxy, "limited", "ok", stream: false);

        Assert.Multiple(() =>
        {
            Assert.That(first.Text, Is.EqualTo("l:ok"));
            Assert.That(second.Text, Is.EqualTo("s:ok"));
        });
    }

    [Test]
    public async Task Simple_shuffle_follows_the_weights()
    {
        await using var proxy = await StartAsync(
            Deployment("weighted", "heavy", extra: "      weight: 9\n") + Deployment("weighted", "light", extra: "      weight: 1\n"));

        var heavy = 0;
        for (var i = 0; i < 200; i++)
        {
            heavy += (await Ask(proxy, "weighted", "ok", stream: false)).Text == "heavy:ok" ? 1 : 0;
        }

        Assert.That(heavy, Is.InRange(150, 199), "expected about 180 of 200");
    }

    [Test]
    public async Task Least_busy_sends_a_request_to_the_idle_deployment()
    {
        await using var proxy = await StartAsync(Deployment("busy", "a") + Deployment("busy", "b"), "  routing_strategy: least-busy\n");
        using var hold = new CancellationTokenSource();
        var held = Ask(proxy, "busy", "hang", stream: false, hold.Token);
        await Wait.UntilAsync(() => InFlight(proxy).Result.Sum(d => d.InFlight) == 1, "the hanging request to be in flight");
        var holder = (await InFlight(proxy)).Single(d => d.InFlight == 1).Id;

        var answers = new List<Answer>();
        for (var i = 0; i < 10; i++)
        {
            answers.Add(await Ask(proxy, "busy", "ok", stream: i % 2 == 0));
        }

        await hold.CancelAsync();
        Assert.CatchAsync<OperationCanceledException>(async () => await held);
        Assert.That(answers.Select(a => a.Header("x-litellm-model-id")), Is.All.Not.EqualTo(holder));
    }

    [Test]
    public async Task Latency_based_routing_prefers_the_faster_deployment()
    {
        await using var proxy = await StartAsync(
            Deployment("timed", "slow", "slow-first-chunk:150") + Deployment("timed", "fast"),
            "  routing_strategy: latency-based-routing\n");

        // Both are measured once at least, then the faster one takes the traffic.
        for (var i = 0; i < 6; i++)
        {
            await Ask(proxy, "timed", "default", stream: true);
        }

        var answers = new List<Answer>();
        for (var i = 0; i < 10; i++)
        {
            answers.Add(await Ask(proxy, "timed", "default", stream: i % 2 == 0));
        }

        Assert.That(answers.Count(a => a.Header("x-litellm-model-id") == "fast"), Is.GreaterThanOrEqualTo(9));
    }

    [Test]
    public async Task Usage_based_routing_prefers_the_deployment_with_fewer_tokens_this_minute()
    {
        await using var proxy = await StartAsync(Deployment("used", "a") + Deployment("used", "b"), "  routing_strategy: usage-based-routing-v2\n");

        var ids = new List<string?>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add((await Ask(proxy, "used", "ok", stream: false)).Header("x-litellm-model-id"));
        }

        // Every answer uses 15 tokens, so the two alternate once the first has answered.
        Assert.That(ids.Count(id => id == "a"), Is.EqualTo(5), string.Join(",", ids));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_deployment_past_its_timeout_is_retried_on_another(bool stream)
    {
        await using var proxy = await StartAsync(
            Deployment("timed", "slow", "slow-first-chunk:5000") + Deployment("timed", "fast"),
            stream ? "  stream_timeout: 0.3\n" : "  timeout: 0.3\n");

        var answers = new List<Answer>();
        for (var i = 0; i < 4; i++)
        {
            answers.Add(await Ask(proxy, "timed", "default", stream));
        }

        Assert.That(answers.Select(a => a.Text), Is.All.EqualTo("fast:ok"));
    }

    [Test]
    public async Task A_request_sets_its_own_retries_timeout_and_fallbacks()
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a") + Deployment("broken", "b", "fail:500") + Deployment("spare", "s"));

        var noRetries = await Send(proxy, $$"""{"model":"flaky","num_retries":0,"messages":[{"role":"user","content":"fail-first:1:500:{{Key()}}"}]}""");
        var headerRetries = await Send(proxy, $$"""{"model":"flaky","messages":[{"role":"user","content":"fail-first:1:500:{{Key()}}"}]}""", ("x-litellm-num-retries", "0"));
        var timeout = await Send(proxy, """{"model":"flaky","num_retries":0,"messages":[{"role":"user","content":"hang"}]}""", ("x-litellm-timeout", "0.2"));
        var fallback = await Send(proxy, """{"model":"broken","fallbacks":["spare"],"messages":[{"role":"user","content":"default"}]}""");

        Assert.Multiple(() =>
        {
            Assert.That(noRetries.Status, Is.EqualTo(HttpStatusCode.InternalServerError), noRetries.Body);
            Assert.That(headerRetries.Status, Is.EqualTo(HttpStatusCode.InternalServerError), headerRetries.Body);
            Assert.That(timeout.Status, Is.EqualTo(HttpStatusCode.RequestTimeout), timeout.Body);
            Assert.That(timeout.Body, Does.Contain("x-litellm-timeout"));
            Assert.That(fallback.Text, Is.EqualTo("s:ok"), fallback.Body);
        });
    }

    [Test]
    public async Task A_stream_timeout_header_bounds_the_wait_for_the_first_chunk()
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a"), "  num_retries: 0\n");

        var answer = await Send(proxy, """{"model":"flaky","stream":true,"messages":[{"role":"user","content":"slow-first-chunk:5000"}]}""", ("x-litellm-stream-timeout", "0.2"));

        Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.RequestTimeout), answer.Body);
        Assert.That(answer.Body, Does.Contain("first chunk").And.Contain("x-litellm-stream-timeout"));
    }

    [TestCase("x-litellm-num-retries", "many")]
    [TestCase("x-litellm-timeout", "-1")]
    [TestCase("x-litellm-stream-timeout", "soon")]
    public async Task A_bad_router_header_is_a_400_naming_it(string header, string value)
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a"));

        var answer = await Send(proxy, """{"model":"flaky","messages":[{"role":"user","content":"ok"}]}""", (header, value));

        Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.BadRequest), answer.Body);
        Assert.That(answer.Body, Does.Contain(header));
    }

    [Test]
    public async Task A_model_group_alias_serves_the_group_and_is_listed_unless_hidden()
    {
        await using var proxy = await StartAsync(
            Deployment("real", "r"),
            "  model_group_alias:\n    gpt-4: real\n    secret:\n      model: real\n      hidden: true\n");

        var viaAlias = await Ask(proxy, "gpt-4", "ok", stream: false);
        var viaHidden = await Ask(proxy, "secret", "ok", stream: true);
        var models = await proxy.Http.GetFromJsonAsync<JsonElement>("/v1/models");
        var ids = models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(viaAlias.Text, Is.EqualTo("r:ok"));
            Assert.That(viaHidden.Text, Is.EqualTo("r:ok"));
            Assert.That(ids, Is.EquivalentTo(new[] { "real", "gpt-4" }));
        });
    }

    [TestCase("  routing_strategy: fastest\n", "router_settings.routing_strategy 'fastest'")]
    [TestCase("  fallbacks: [{\"flaky\": [\"nowhere\"]}]\n", "'nowhere' is not a model_name")]
    [TestCase("  retry_policy:\n    SometimesRetries: 2\n", "retry_policy.SometimesRetries")]
    [TestCase("  num_retries: -1\n", "num_retries '-1'")]
    [TestCase("  cooldown_time: forever\n", "cooldown_time 'forever'")]
    [TestCase("  model_group_alias:\n    x: nowhere\n", "model_group_alias.x")]
    [TestCase("  redis_url: http://example.org\n", "redis_url")]
    public void A_bad_router_setting_fails_startup_naming_the_key(string router, string message)
    {
        var error = Assert.CatchAsync(async () => await (await StartAsync(Deployment("flaky", "a"), router)).DisposeAsync());

        Assert.That(error!.Message, Does.Contain(message));
    }

    [TestCase("  redis_host: cache.internal\n  redis_port: 6380\n  redis_password: \"p,w=d\"\n")]
    [TestCase("  redis_url: redis://:p%2Cw%3Dd@cache.internal:6380\n")]
    public void A_redis_password_is_kept_apart_from_the_connection_options(string router)
    {
        var redis = PluginHost.Configuration.ConfigReader.Parse(Config(Deployment("flaky", "a"), router), "plugins.yaml").Router.Redis!;

        Assert.Multiple(() =>
        {
            Assert.That(redis.Password, Is.EqualTo("p,w=d"));
            Assert.That(redis.Display, Is.EqualTo("cache.internal:6380"));
            Assert.That(redis.Configuration, Does.StartWith("cache.internal:6380,").And.Not.Contain("p,w"));
        });
    }

    [Test]
    public async Task Router_keys_under_litellm_settings_count_and_router_settings_wins()
    {
        var config = Config(Deployment("flaky", "a"), "  num_retries: 0\n").Replace(
            "litellm_settings:\n",
            "litellm_settings:\n  num_retries: 5\n  request_timeout: 0.2\n");
        await using var proxy = await TestProxy.StartAsync(config, "RouterHandlers");

        var retried = await Ask(proxy, "flaky", $"fail-first:1:500:{Key()}", stream: false);
        var timedOut = await Ask(proxy, "flaky", "hang", stream: false);

        Assert.Multiple(() =>
        {
            Assert.That(retried.Status, Is.EqualTo(HttpStatusCode.InternalServerError), "router_settings.num_retries 0 wins over litellm_settings' 5");
            Assert.That(timedOut.Status, Is.EqualTo(HttpStatusCode.RequestTimeout), timedOut.Body);
        });
    }

    [Test]
    public async Task A_config_edit_applies_router_changes_and_a_deployment_that_stays_keeps_its_state()
    {
        await using var proxy = await StartAsync(
            Deployment("pair", "bad", "fail:500") + Deployment("pair", "good"),
            "  allowed_fails: 0\n  cooldown_time: 60\n  num_retries: 1\n");
        for (var i = 0; i < 200 && !await IsCoolingDown(proxy, "bad"); i++)
        {
            await Ask(proxy, "pair", "default", stream: false);
        }

        await File.WriteAllTextAsync(proxy.ConfigPath, Config(
            Deployment("pair", "bad", "fail:500") + Deployment("pair", "good") + Deployment("pair", "third"),
            "  allowed_fails: 0\n  cooldown_time: 60\n  num_retries: 0\n"));
        await proxy.ReloadAsync();

        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/router");
        var states = status.GetProperty("deployments").EnumerateArray().ToDictionary(d => d.GetProperty("id").GetString()!, d => d.GetProperty("state").GetString());
        var noRetry = await Ask(proxy, "pair", $"fail-first:1:500:{Key()}", stream: false);

        Assert.Multiple(() =>
        {
            Assert.That(states, Has.Count.EqualTo(3));
            Assert.That(states["bad"], Is.EqualTo("cooling_down"), "the cooldown outlives the reload");
            Assert.That(states["third"], Is.EqualTo("healthy"));
            Assert.That(noRetry.Status, Is.EqualTo(HttpStatusCode.InternalServerError), "num_retries 0 from the edited file");
        });
    }

    [Test]
    public async Task The_router_status_needs_the_master_key()
    {
        await using var proxy = await StartAsync(Deployment("flaky", "a"));
        using var anonymous = new HttpClient { BaseAddress = proxy.BaseAddress };

        using var response = await anonymous.GetAsync("/router");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    private static async Task<bool> IsCoolingDown(TestProxy proxy, string deployment)
    {
        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/router");
        return status.GetProperty("deployments").EnumerateArray().Any(d => d.GetProperty("id").GetString() == deployment && d.GetProperty("state").GetString() == "cooling_down");
    }

    /// <summary>Each deployment's requests in flight, from <c>/router</c>.</summary>
    private static async Task<List<(string Id, int InFlight)>> InFlight(TestProxy proxy)
    {
        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/router");
        return [.. status.GetProperty("deployments").EnumerateArray().Select(d => (d.GetProperty("id").GetString()!, d.GetProperty("in_flight").GetInt32()))];
    }

    private static Task<Answer> Ask(TestProxy proxy, string model, string message, bool stream, CancellationToken cancellationToken = default) =>
        Send(proxy, JsonSerializer.Serialize(new { model, stream, messages = new[] { new { role = "user", content = message } } }), cancellationToken);

    private static Task<Answer> Send(TestProxy proxy, string body, params (string Name, string Value)[] headers) => Send(proxy, body, CancellationToken.None, headers);

    private static async Task<Answer> Send(TestProxy proxy, string body, CancellationToken cancellationToken, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await proxy.Http.SendAsync(request, cancellationToken);
        return new Answer(response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken), response.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(",", h.Value)), response.Headers.RetryAfter?.Delta);
    }

    /// <summary>An answer: status, body, headers, and the text of a completion or of a stream's deltas.</summary>
    private sealed record Answer(HttpStatusCode Status, string Body, Dictionary<string, string> Headers, TimeSpan? RetryAfter)
    {
        public string? Header(string name) => Headers.GetValueOrDefault(name);

        public string? Text
        {
            get
            {
                if (Status != HttpStatusCode.OK)
                {
                    return null;
                }

                if (!Body.StartsWith("data: ", StringComparison.Ordinal))
                {
                    return JsonDocument.Parse(Body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
                }

                return string.Concat(new RawResponse(Status, Body).Events
                    .Where(e => e.TryGetProperty("choices", out var c) && c.GetArrayLength() > 0 && c[0].GetProperty("delta").TryGetProperty("content", out _))
                    .Select(e => e.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString()));
            }
        }
    }
}
