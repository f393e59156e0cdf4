using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using OpenTelemetry.Trace;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// Traces through the real proxy with an in-memory exporter: the client's <c>traceparent</c> is continued by the
/// server span, each handler attempt has a child span, the forwarder passes the context on to a real upstream, and
/// loads and reloads of plugins have spans of their own.
/// </summary>
public sealed class TracingTests
{
    private const string HostSource = "PluginHost";

    /// <summary>The proxy's server span: ASP.NET Core's, a child of the client's span.</summary>
    private static Task<Activity> ServerSpanAsync(ExportedSpans spans, ActivitySpanId client) =>
        spans.WaitForAsync(s => s.Kind == ActivityKind.Server && s.ParentSpanId == client, "the proxy's server span under the client's");

    /// <summary>The host's attempt spans under <paramref name="server"/>, first attempt first.</summary>
    private static List<Activity> Attempts(ExportedSpans spans, Activity server) =>
        [.. spans.Snapshot().Where(s => s.Source.Name == HostSource && s.ParentSpanId == server.SpanId).OrderBy(s => s.GetTagItem("pluginhost.attempt"))];

    /// <summary>
    /// Posts a chat request carrying the client's <paramref name="traceparent"/>, from a client that sends it as it is:
    /// the test runs in the proxy's process, where the proxy's tracer would otherwise have HttpClient start a span of
    /// its own and send that as the parent.
    /// </summary>
    private static async Task<HttpStatusCode> PostChatAsync(TestProxy proxy, string model, string content, string traceparent)
    {
        using var client = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null }) { BaseAddress = proxy.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { model, messages = new[] { new { role = "user", content } } }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = proxy.Http.DefaultRequestHeaders.Authorization;
        request.Headers.Add("traceparent", traceparent);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static (ActivityTraceId Trace, ActivitySpanId Span, string Header) ClientContext()
    {
        var trace = ActivityTraceId.CreateRandom();
        var span = ActivitySpanId.CreateRandom();
        return (trace, span, $"00-{trace.ToHexString()}-{span.ToHexString()}-01");
    }

    [Test]
    public async Task A_client_traceparent_is_continued_through_the_attempt_and_the_forwarder_to_the_upstream()
    {
        var received = new List<string>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var upstream = builder.Build();
        upstream.MapPost("/v1/chat/completions", (HttpContext context) =>
        {
            lock (received)
            {
                received.Add(context.Request.Headers["traceparent"].ToString());
            }

            return Results.Text(
                """{"id":"up-1","object":"chat.completion","model":"real-model","choices":[{"index":0,"message":{"role":"assistant","content":"up"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}""",
                "application/json");
        });
        await upstream.StartAsync();
        var address = upstream.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var spans = new ExportedSpans();
        await using var proxy = await TestProxy.StartTracedAsync(Yaml.Config(new Model("gpt", "OpenAiForwarder", ("api_base", address + "/v1"))), spans, "OpenAiForwarder");
        var client = ClientContext();

        Assert.That(await PostChatAsync(proxy, "gpt", "hello", client.Header), Is.EqualTo(HttpStatusCode.OK));

        var server = await ServerSpanAsync(spans, client.Span);
        var attempt = Attempts(spans, server).Single();
        var sent = received.Single().Split('-');
        Assert.Multiple(() =>
        {
            Assert.That(server.TraceId, Is.EqualTo(client.Trace));
            Assert.That(attempt.TraceId, Is.EqualTo(client.Trace));
            Assert.That(sent[1], Is.EqualTo(client.Trace.ToHexString()), "the upstream continues the client's trace");
            Assert.That(sent[2], Is.EqualTo(attempt.SpanId.ToHexString()), "the upstream's parent is the attempt's span");
            Assert.That(attempt.DisplayName, Is.EqualTo("chat gpt"));
            Assert.That(attempt.GetTagItem("gen_ai.operation.name"), Is.EqualTo("chat"));
            Assert.That(attempt.GetTagItem("gen_ai.request.model"), Is.EqualTo("gpt"));
            Assert.That(attempt.GetTagItem("gen_ai.response.model"), Is.EqualTo("gpt-upstream"));
            Assert.That(attempt.GetTagItem("pluginhost.model_group"), Is.EqualTo("gpt"));
            Assert.That(attempt.GetTagItem("pluginhost.plugin"), Is.EqualTo("OpenAiForwarder"));
            Assert.That(attempt.GetTagItem("pluginhost.plugin.generation"), Is.EqualTo(proxy.Runtime.Current.Plugins.Single().Generation));
            Assert.That(attempt.GetTagItem("pluginhost.attempt"), Is.EqualTo(1));
            Assert.That(attempt.GetTagItem("gen_ai.usage.output_tokens"), Is.EqualTo(2));
            Assert.That(attempt.Status, Is.EqualTo(ActivityStatusCode.Unset));
        });
    }

    [Test]
    public async Task A_retried_request_has_one_attempt_span_per_attempt_under_the_server_span()
    {
        var spans = new ExportedSpans();
        await using var proxy = await TestProxy.StartTracedAsync(RouterConfig(Deployment("flaky", "a")), spans, "RouterHandlers");
        var client = ClientContext();

        Assert.That(await PostChatAsync(proxy, "flaky", $"fail-first:1:500:{Guid.NewGuid():N}", client.Header), Is.EqualTo(HttpStatusCode.OK));

        var server = await ServerSpanAsync(spans, client.Span);
        var attempts = Attempts(spans, server);
        Assert.That(attempts, Has.Count.EqualTo(2), spans.Describe());
        Assert.Multiple(() =>
        {
            Assert.That(attempts.Select(a => a.GetTagItem("pluginhost.attempt")), Is.EqualTo(new object[] { 1, 2 }));
            Assert.That(attempts.Select(a => a.GetTagItem("pluginhost.deployment")), Is.EqualTo(new[] { "a", "a" }));
            Assert.That(attempts[0].Status, Is.EqualTo(ActivityStatusCode.Error));
            Assert.That(attempts[0].GetTagItem("error.type"), Is.EqualTo("InternalServer"));
            Assert.That(attempts[1].Status, Is.EqualTo(ActivityStatusCode.Unset));
            Assert.That(attempts[1].GetTagItem("error.type"), Is.Null);
            Assert.That(attempts.Select(a => a.TraceId), Is.All.EqualTo(client.Trace));
        });
    }

    [Test]
    public async Task A_fallback_has_its_own_attempt_span_in_the_other_group()
    {
        var spans = new ExportedSpans();
        await using var proxy = await TestProxy.StartTracedAsync(
            RouterConfig(Deployment("primary", "p", "fail:503") + Deployment("secondary", "s"), "  num_retries: 0\n  fallbacks: [{\"primary\": [\"secondary\"]}]\n"),
            spans,
            "RouterHandlers");
        var client = ClientContext();

        Assert.That(await PostChatAsync(proxy, "primary", "default", client.Header), Is.EqualTo(HttpStatusCode.OK));

        var attempts = Attempts(spans, await ServerSpanAsync(spans, client.Span));
        Assert.Multiple(() =>
        {
            Assert.That(attempts.Select(a => a.GetTagItem("pluginhost.model_group")), Is.EqualTo(new[] { "primary", "secondary" }));
            Assert.That(attempts.Select(a => a.GetTagItem("error.type")), Is.EqualTo(new[] { "InternalServer", null }));
        });
    }

    [Test]
    public async Task A_handler_span_from_its_own_ActivitySource_is_a_child_of_its_attempt()
    {
        var spans = new ExportedSpans();
        await using var proxy = await TestProxy.StartTracedAsync(Yaml.Config(new Model("traced", "TestHandlers:Traced")), spans, "TestHandlers");
        var client = ClientContext();

        Assert.That(await PostChatAsync(proxy, "traced", "hello", client.Header), Is.EqualTo(HttpStatusCode.OK));

        var attempt = Attempts(spans, await ServerSpanAsync(spans, client.Span)).Single();
        var own = await spans.WaitForAsync(s => s.Source.Name == "TestHandlers.Traced", "the handler's own span");
        Assert.Multiple(() =>
        {
            Assert.That(own.ParentSpanId, Is.EqualTo(attempt.SpanId));
            Assert.That(own.TraceId, Is.EqualTo(client.Trace));
            Assert.That(own.GetTagItem("test.content"), Is.EqualTo("hello"));
        });
    }

    [Test]
    public async Task Loading_and_reloading_plugins_have_spans_with_each_version_loaded()
    {
        var spans = new ExportedSpans();
        await using var proxy = await TestProxy.StartAsync(
            Yaml.Config(new Model("versioned", "Versioned:VersionedLlm")),
            [("Versioned", "Versioned.V1")],
            tracing => tracing.AddInMemoryExporter(spans));
        var first = proxy.Runtime.Current.Plugins.Single().Generation;

        File.Copy(Path.Combine(TestPaths.TestPlugin("Versioned.V2"), "Versioned.dll"), Path.Combine(proxy.PluginsDirectory, "Versioned", "Versioned.dll"), overwrite: true);
        await proxy.ReloadAsync();
        var second = proxy.Runtime.Current.Plugins.Single().Generation;

        var start = spans.Snapshot().Single(s => s.DisplayName == "pluginhost.start");
        var reload = spans.Snapshot().Single(s => s.DisplayName == "pluginhost.reload");
        var loads = spans.Snapshot().Where(s => s.DisplayName == "pluginhost.plugin.load").ToList();
        Assert.Multiple(() =>
        {
            Assert.That(second, Is.Not.EqualTo(first));
            Assert.That(loads.Select(l => (l.ParentSpanId, l.GetTagItem("pluginhost.plugin.generation"))), Is.EquivalentTo(new[] { (start.SpanId, (object)first), (reload.SpanId, second) }));
            Assert.That(loads.Select(l => l.GetTagItem("pluginhost.plugin")), Is.All.EqualTo("Versioned"));
            Assert.That(reload.GetTagItem("pluginhost.snapshot.generation"), Is.EqualTo(proxy.Runtime.Current.Generation));
            Assert.That(reload.Status, Is.EqualTo(ActivityStatusCode.Unset));
        });
    }

    [Test]
    public async Task The_standard_OTLP_endpoint_variable_exports_spans_and_metrics_to_a_collector()
    {
        var received = new List<string>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var collector = builder.Build();
        collector.MapPost("/v1/{signal}", (HttpContext context, string signal) =>
        {
            lock (received)
            {
                received.Add($"{signal} {context.Request.ContentType}");
            }

            return Results.Ok();
        });
        await collector.StartAsync();
        var address = collector.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        (string Name, string Value)[] variables = [("OTEL_EXPORTER_OTLP_ENDPOINT", address), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")];
        TestProxy proxy;
        try
        {
            foreach (var (name, value) in variables)
            {
                Environment.SetEnvironmentVariable(name, value);
            }

            proxy = await TestProxy.StartAsync(Yaml.Config(new Model("hi", "HiHandler")), "HiHandler");
        }
        finally
        {
            foreach (var (name, _) in variables)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }

        await using (proxy)
        {
            Assert.That(await PostChatAsync(proxy, "hi", "hello", ClientContext().Header), Is.EqualTo(HttpStatusCode.OK));
        }

        // Stopping the proxy flushed both exporters.
        Assert.That(received, Is.SupersetOf(new[] { "traces application/x-protobuf", "metrics application/x-protobuf" }));
    }

    private static string Deployment(string group, string name, string behaviour = "ok") =>
        $"  - model_name: {group}\n    litellm_params:\n      model: flaky/{name}\n      name: {name}\n      behaviour: \"{behaviour}\"\n    model_info:\n      id: {name}\n";

    private static string RouterConfig(string deployments, string router = "") =>
        "model_list:\n" + deployments
        + "litellm_settings:\n  custom_provider_map:\n    - provider: flaky\n      custom_handler: RouterHandlers\n"
        + (router.Length > 0 ? "router_settings:\n" + router : "")
        + $"general_settings:\n  master_key: {TestProxy.MasterKey}\n";
}
