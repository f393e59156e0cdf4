using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// <c>GET /metrics</c> of the real proxy after real traffic, read as Prometheus reads it: the GenAI request metrics with
/// their attributes, the plugins' and the router's own, and who may scrape.
/// </summary>
public sealed class MetricsTests
{
    private static async Task<IReadOnlyList<PrometheusSample>> ScrapeAsync(TestProxy proxy)
    {
        using var response = await proxy.Http.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/plain").Or.EqualTo("application/openmetrics-text"));
        return PrometheusText.Parse(text);
    }

    private static async Task<HttpStatusCode> PostChatAsync(TestProxy proxy, string model, string content = "hello", bool stream = false)
    {
        using var response = await proxy.PostAsync("/v1/chat/completions", JsonSerializer.Serialize(new { model, stream, messages = new[] { new { role = "user", content } } }));
        await response.Content.ReadAsStringAsync();
        return response.StatusCode;
    }

    [Test]
    public async Task Requests_are_counted_timed_and_their_tokens_summed_by_operation_model_and_error_type()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("hi", "HiHandler")), "HiHandler");
        await proxy.Chat("hi").CompleteChatAsync([new UserChatMessage("one")]);
        await proxy.Chat("hi").CompleteChatAsync([new UserChatMessage("two")]);
        await foreach (var _ in proxy.Chat("hi").CompleteChatStreamingAsync([new UserChatMessage("three")]))
        {
        }

        Assert.That(await PostChatAsync(proxy, "no-such-model"), Is.EqualTo(HttpStatusCode.BadRequest));

        var metrics = await ScrapeAsync(proxy);
        (string, string)[] hi = [("gen_ai_operation_name", "chat"), ("gen_ai_request_model", "hi"), ("gen_ai_response_model", "hi-upstream")];
        Assert.Multiple(() =>
        {
            Assert.That(metrics.Value("gen_ai_server_request_duration_seconds_count", hi), Is.EqualTo(3));
            Assert.That(metrics.Value("gen_ai_server_request_duration_seconds_sum", hi), Is.GreaterThan(0));
            Assert.That(metrics.Find("gen_ai_server_request_duration_seconds_count", hi).Single().Labels, Does.Not.ContainKey("error_type"));
            Assert.That(metrics.Value("gen_ai_server_request_duration_seconds_count", ("gen_ai_request_model", "no-such-model"), ("error_type", "BadRequest")), Is.EqualTo(1));
            Assert.That(metrics.Value("gen_ai_server_time_to_first_token_seconds_count", hi), Is.EqualTo(1), "the one stream");
            Assert.That(metrics.Value("gen_ai_server_time_per_output_token_seconds_count", hi), Is.EqualTo(1));
            Assert.That(metrics.Value("gen_ai_client_token_usage_count", [.. hi, ("gen_ai_token_type", "input")]), Is.EqualTo(3));
            Assert.That(metrics.Value("gen_ai_client_token_usage_sum", [.. hi, ("gen_ai_token_type", "input")]), Is.EqualTo(30), "Hi! reports 10 prompt tokens");
            Assert.That(metrics.Value("gen_ai_client_token_usage_sum", [.. hi, ("gen_ai_token_type", "output")]), Is.EqualTo(60), "and 20 completion tokens");
            Assert.That(metrics.Value("gen_ai_server_request_duration_seconds_bucket", [.. hi, ("le", "+Inf")]), Is.EqualTo(3));
        });
    }

    [Test]
    public async Task Plugin_loads_reloads_and_live_versions_are_reported()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("versioned", "Versioned:VersionedLlm")), [("Versioned", "Versioned.V1")]);
        Assert.That(await PostChatAsync(proxy, "versioned"), Is.EqualTo(HttpStatusCode.OK));
        File.Copy(Path.Combine(TestPaths.TestPlugin("Versioned.V2"), "Versioned.dll"), Path.Combine(proxy.PluginsDirectory, "Versioned", "Versioned.dll"), overwrite: true);
        await proxy.ReloadAsync();
        await Wait.UntilAsync(() => proxy.Runtime.Retired.All(p => p.State == PluginHost.Plugins.PluginState.Unloaded), "the first version to be collected");

        var metrics = await ScrapeAsync(proxy);
        Assert.Multiple(() =>
        {
            Assert.That(metrics.Value("pluginhost_reloads_total", ("pluginhost_outcome", "ok")), Is.EqualTo(2), "the start and one reload");
            Assert.That(metrics.Value("pluginhost_plugin_load_duration_seconds_count", ("pluginhost_plugin", "Versioned"), ("pluginhost_outcome", "ok")), Is.EqualTo(2));
            Assert.That(metrics.Value("pluginhost_plugin_generations", ("pluginhost_plugin", "Versioned"), ("pluginhost_plugin_state", "active")), Is.EqualTo(1));
            Assert.That(metrics.Find("pluginhost_plugin_generations", ("pluginhost_plugin_state", "draining")), Is.Empty);
            Assert.That(metrics.Value("pluginhost_plugin_unloads_total", ("pluginhost_plugin", "Versioned"), ("pluginhost_outcome", "collected")), Is.EqualTo(1));
            Assert.That(metrics.Value("pluginhost_plugin_in_flight", ("pluginhost_plugin", "Versioned")), Is.Zero);
        });
    }

    [Test]
    public async Task Router_retries_fallbacks_cooldowns_and_deployment_states_are_reported()
    {
        var config =
            "model_list:\n"
            + Deployment("pair", "a", "fail:500") + Deployment("pair", "b", "fail:500")
            + Deployment("primary", "p", "fail:500") + Deployment("secondary", "s")
            + "litellm_settings:\n  custom_provider_map:\n    - provider: flaky\n      custom_handler: RouterHandlers\n"
            + "router_settings:\n  num_retries: 1\n  allowed_fails: 0\n  cooldown_time: 60\n  fallbacks: [{\"primary\": [\"secondary\"]}]\n"
            + $"general_settings:\n  master_key: {TestProxy.MasterKey}\n";
        await using var proxy = await TestProxy.StartAsync(config, "RouterHandlers");

        // Both deployments of the pair fail once: each is cooled down, the second try is a retry.
        Assert.That(await PostChatAsync(proxy, "pair", "default"), Is.EqualTo(HttpStatusCode.InternalServerError));
        // The primary fails twice (a retry), then its fallback answers.
        Assert.That(await PostChatAsync(proxy, "primary", "default"), Is.EqualTo(HttpStatusCode.OK));

        var metrics = await ScrapeAsync(proxy);
        Assert.Multiple(() =>
        {
            Assert.That(metrics.Value("pluginhost_router_retries_total", ("gen_ai_request_model", "pair")), Is.EqualTo(1));
            Assert.That(metrics.Value("pluginhost_router_retries_total", ("gen_ai_request_model", "primary")), Is.EqualTo(1));
            Assert.That(
                metrics.Value("pluginhost_router_fallbacks_total", ("gen_ai_request_model", "primary"), ("pluginhost_model_group", "secondary"), ("pluginhost_outcome", "success")),
                Is.EqualTo(1));
            Assert.That(metrics.Value("pluginhost_router_cooldowns_total", ("pluginhost_deployment", "a"), ("error_type", "InternalServer")), Is.EqualTo(1));
            Assert.That(metrics.Value("pluginhost_router_cooldowns_total", ("pluginhost_deployment", "b")), Is.EqualTo(1));
            Assert.That(metrics.Find("pluginhost_router_cooldowns_total", ("pluginhost_deployment", "p")), Is.Empty, "a group's only deployment is never cooled down");
            Assert.That(metrics.Value("pluginhost_router_deployment_state", ("pluginhost_model_group", "pair"), ("pluginhost_deployment", "a")), Is.EqualTo(2));
            Assert.That(metrics.Value("pluginhost_router_deployment_state", ("pluginhost_deployment", "p")), Is.EqualTo(1), "failing, not cooled down");
            Assert.That(metrics.Value("pluginhost_router_deployment_state", ("pluginhost_deployment", "s")), Is.Zero);
            Assert.That(metrics.Value("pluginhost_router_deployment_responses_total", ("pluginhost_deployment", "p"), ("pluginhost_outcome", "failure")), Is.EqualTo(2));
            Assert.That(metrics.Value("pluginhost_router_deployment_responses_total", ("pluginhost_deployment", "s"), ("pluginhost_outcome", "success")), Is.EqualTo(1));
            Assert.That(metrics.Value("gen_ai_server_request_duration_seconds_count", ("gen_ai_request_model", "pair"), ("error_type", "InternalServer")), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Metrics_need_the_master_key_by_default()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("hi", "HiHandler")), "HiHandler");
        using var anonymous = new HttpClient { BaseAddress = proxy.BaseAddress };

        using var refused = await anonymous.GetAsync("/metrics");
        using var wrong = await anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "sk-wrong") } });
        using var keyed = await proxy.Http.GetAsync("/metrics");

        Assert.Multiple(() =>
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(wrong.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(keyed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });
    }

    [Test]
    public async Task Metrics_are_open_with_metrics_require_key_false_and_nothing_else_is()
    {
        var config = Yaml.Config(new Model("hi", "HiHandler")).Replace("general_settings:\n", "general_settings:\n  metrics_require_key: false\n", StringComparison.Ordinal);
        await using var proxy = await TestProxy.StartAsync(config, "HiHandler");
        using var anonymous = new HttpClient { BaseAddress = proxy.BaseAddress };

        using var metrics = await anonymous.GetAsync("/metrics");
        using var models = await anonymous.GetAsync("/v1/models");
        using var chat = await anonymous.PostAsync("/v1/chat/completions", new StringContent("""{"model":"hi","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));

        Assert.Multiple(() =>
        {
            Assert.That(metrics.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(models.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(chat.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        });
    }

    [Test]
    public async Task Every_name_the_Grafana_dashboard_queries_is_exported()
    {
        var config =
            "model_list:\n"
            + "  - model_name: hi\n    litellm_params:\n      model: hi/hi-1\n"
            + "  - model_name: versioned\n    litellm_params:\n      model: versioned/v\n"
            + Deployment("pair", "a", "fail:500") + Deployment("pair", "b", "fail:500")
            + Deployment("primary", "p", "fail:500") + Deployment("secondary", "s")
            + "litellm_settings:\n  custom_provider_map:\n"
            + "    - provider: hi\n      custom_handler: HiHandler\n"
            + "    - provider: versioned\n      custom_handler: Versioned:VersionedLlm\n"
            + "    - provider: flaky\n      custom_handler: RouterHandlers\n"
            + "router_settings:\n  num_retries: 1\n  allowed_fails: 0\n  cooldown_time: 60\n  fallbacks: [{\"primary\": [\"secondary\"]}]\n"
            + $"general_settings:\n  master_key: {TestProxy.MasterKey}\n";
        await using var proxy = await TestProxy.StartAsync(config, [("HiHandler", "HiHandler"), ("RouterHandlers", "RouterHandlers"), ("Versioned", "Versioned.V1")]);
        Assert.That(await PostChatAsync(proxy, "hi", stream: true), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await PostChatAsync(proxy, "pair", "default"), Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(await PostChatAsync(proxy, "primary", "default"), Is.EqualTo(HttpStatusCode.OK));
        File.Copy(Path.Combine(TestPaths.TestPlugin("Versioned.V2"), "Versioned.dll"), Path.Combine(proxy.PluginsDirectory, "Versioned", "Versioned.dll"), overwrite: true);
        await proxy.ReloadAsync();
        await Wait.UntilAsync(() => proxy.Runtime.Retired.All(p => p.State == PluginHost.Plugins.PluginState.Unloaded), "the first version to be collected");

        var metrics = await ScrapeAsync(proxy);
        var exported = metrics.Select(m => m.Name).Concat(metrics.SelectMany(m => m.Labels.Keys)).ToHashSet(StringComparer.Ordinal);
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(TestPaths.RepoRoot, "deploy", "grafana", "pluginhost-dashboard.json")));
        var queried = Expressions(dashboard.RootElement)
            .SelectMany(e => System.Text.RegularExpressions.Regex.Matches(e, @"\b(?:gen_ai|pluginhost)_[a-z_]+\b").Select(m => m.Value))
            .ToHashSet(StringComparer.Ordinal);

        Assert.That(queried, Has.Count.GreaterThan(15), "the dashboard's queries were read");
        Assert.That(queried.Where(name => !exported.Contains(name)), Is.Empty, "metric and label names the dashboard queries but /metrics does not have");
    }

    /// <summary>Every PromQL expression in a Grafana dashboard: its panels' targets and its template variables' queries.</summary>
    private static IEnumerable<string> Expressions(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name is "expr" or "definition" && property.Value.ValueKind == JsonValueKind.String)
                {
                    yield return property.Value.GetString()!;
                }

                foreach (var inner in Expressions(property.Value))
                {
                    yield return inner;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray())
            {
                foreach (var inner in Expressions(item))
                {
                    yield return inner;
                }
            }
        }
    }

    private static string Deployment(string group, string name, string behaviour = "ok") =>
        $"  - model_name: {group}\n    litellm_params:\n      model: flaky/{name}\n      name: {name}\n      behaviour: \"{behaviour}\"\n    model_info:\n      id: {name}\n";
}
