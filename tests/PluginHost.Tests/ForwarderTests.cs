using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>The OpenAiForwarder sample against a real OpenAI-compatible upstream on Kestrel.</summary>
public sealed class ForwarderTests
{
    private WebApplication _upstream = null!;
    private WebApplication _upstreamH2c = null!;
    private readonly List<(string? Text, string Protocol)> _protocols = [];
    private TestProxy _proxy = null!;
    private string _address = null!;
    private string _h2cAddress = null!;
    private readonly List<(string? Authorization, JsonElement Body)> _received = [];

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _upstream = builder.Build();
        _upstream.MapPost("/v1/chat/completions", UpstreamAsync);
        await _upstream.StartAsync();
        var address = _address = _upstream.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        // The same upstream serving cleartext HTTP/2 only (prior knowledge), for a deployment with http2: true.
        var h2c = WebApplication.CreateSlimBuilder();
        h2c.Logging.ClearProviders();
        h2c.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        _upstreamH2c = h2c.Build();
        _upstreamH2c.MapPost("/v1/chat/completions", UpstreamAsync);
        await _upstreamH2c.StartAsync();
        var h2cAddress = _h2cAddress = _upstreamH2c.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        _proxy = await TestProxy.StartAsync(
            Yaml.Config(
                new Model("gpt", "OpenAiForwarder", ("api_base", address + "/v1"), ("api_key", "sk-upstream")),
                new Model("gpt-h2c", "OpenAiForwarder", ("api_base", h2cAddress + "/v1"), ("api_key", "sk-upstream"), ("http2", "true")),
                new Model("gpt-counted", "OpenAiForwarder", ("api_base", address + "/v1"), ("api_key", "sk-upstream"))),
            "OpenAiForwarder");
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
        await _upstreamH2c.DisposeAsync();
    }

    /// <summary>A tiny upstream: echoes the last message, in two chunks when streaming; "fail" answers 429, "garbage" a 200 that is not JSON.</summary>
    private async Task UpstreamAsync(HttpContext context)
    {
        using var body = await JsonDocument.ParseAsync(context.Request.Body);
        lock (_received)
        {
            _received.Add((context.Request.Headers.Authorization.ToString(), body.RootElement.Clone()));
        }

        var text = LastContent(body.RootElement);
        lock (_protocols)
        {
            _protocols.Add((text, context.Request.Protocol));
        }
        if (text == "fail")
        {
            context.Response.StatusCode = 429;
            await context.Response.WriteAsJsonAsync(new { error = new { message = "upstream is busy", type = "rate_limit_error" } });
            return;
        }

        if (text == "garbage")
        {
            await context.Response.WriteAsync("<html>not an answer</html>");
            return;
        }

        if (body.RootElement.TryGetProperty("stream", out var stream) && stream.GetBoolean())
        {
            context.Response.ContentType = "text/event-stream";
            foreach (var piece in new[] { "up:", text })
            {
                await context.Response.WriteAsync($"data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{JsonSerializer.Serialize(piece)}}},\"finish_reason\":null}}]}}\n\n");
                await context.Response.Body.FlushAsync();
            }

            await context.Response.WriteAsync("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n");
            await context.Response.WriteAsync("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n");
            await context.Response.WriteAsync("data: [DONE]\n\n");
            return;
        }

        await context.Response.WriteAsync(
            $"{{\"id\":\"up-1\",\"object\":\"chat.completion\",\"model\":\"real-model\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":{JsonSerializer.Serialize("up:" + text)}}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}},\"system_fingerprint\":\"fp-up\",\"service_tier\":\"default\"}}");
    }

    private static string? LastContent(JsonElement body) =>
        body.GetProperty("messages").EnumerateArray().Last().GetProperty("content").GetString();

    [Test]
    public async Task A_completion_is_forwarded_with_the_upstream_model_and_key_and_answered_as_the_client_model()
    {
        var completion = (await _proxy.Chat("gpt").CompleteChatAsync([new UserChatMessage("hello")], new ChatCompletionOptions { Temperature = 0.5f })).Value;

        Assert.That(completion.Content[0].Text, Is.EqualTo("up:hello"));
        Assert.That(completion.Model, Is.EqualTo("gpt"));
        Assert.That(completion.Usage.TotalTokenCount, Is.EqualTo(7));
        var (authorization, body) = _received.Last(r => LastContent(r.Body) == "hello");
        Assert.That(authorization, Is.EqualTo("Bearer sk-upstream"));
        Assert.That(body.GetProperty("model").GetString(), Is.EqualTo("gpt-upstream"));
        Assert.That(body.GetProperty("temperature").GetDouble(), Is.EqualTo(0.5).Within(1e-6));
    }

    [Test]
    public async Task A_stream_is_forwarded_chunk_by_chunk_with_finish_reason_and_usage()
    {
        var text = new List<string>();
        ChatFinishReason? finish = null;
        int? totalTokens = null;
        // The OpenAI .NET SDK asks for stream_options.include_usage by itself.
        await foreach (var update in _proxy.Chat("gpt").CompleteChatStreamingAsync([new UserChatMessage("streamed")]))
        {
            text.AddRange(update.ContentUpdate.Select(c => c.Text).Where(t => t.Length > 0));
            finish ??= update.FinishReason;
            totalTokens ??= update.Usage?.TotalTokenCount;
        }

        Assert.That(text, Is.EqualTo(new[] { "up:", "streamed" }));
        Assert.That(finish, Is.EqualTo(ChatFinishReason.Length));
        Assert.That(totalTokens, Is.EqualTo(7));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task An_upstream_error_keeps_its_status_and_message(bool stream)
    {
        using var response = await _proxy.Http.PostAsync(
            "/v1/chat/completions",
            new StringContent($$"""{"model":"gpt","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"fail"}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("upstream is busy"));
    }

    [Test]
    public async Task A_completion_is_passed_through_with_the_upstreams_own_fields_and_only_the_model_changed()
    {
        using var response = await _proxy.Http.PostAsync("/v1/chat/completions", new StringContent("""{"model":"gpt","messages":[{"role":"user","content":"raw"}]}"""));
        var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
        Assert.That(answer.GetProperty("model").GetString(), Is.EqualTo("gpt"));
        Assert.That(answer.GetProperty("id").GetString(), Is.EqualTo("up-1"));
        Assert.That(answer.GetProperty("system_fingerprint").GetString(), Is.EqualTo("fp-up"));
        Assert.That(answer.GetProperty("service_tier").GetString(), Is.EqualTo("default"), "a field the SDK's records do not model still reaches the client");
        Assert.That(answer.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), Is.EqualTo("up:raw"));
        Assert.That(response.Headers.GetValues("x-litellm-model-group"), Is.EqualTo(new[] { "gpt" }));
    }

    [Test]
    public async Task An_upstream_answer_that_is_not_a_chat_completion_is_a_500_naming_the_handler()
    {
        using var response = await _proxy.Http.PostAsync("/v1/chat/completions", new StringContent("""{"model":"gpt","messages":[{"role":"user","content":"garbage"}]}"""));
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(error.GetProperty("message").GetString(), Does.Contain("OpenAiForwarder").And.Contain("not valid JSON"));
    }

    [Test]
    public async Task The_Responses_API_through_the_forwarder_still_gets_a_parsed_answer()
    {
        using var response = await _proxy.Http.PostAsync("/v1/responses", new StringContent("""{"model":"gpt","input":"via responses"}"""));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var output = JsonDocument.Parse(text).RootElement.GetProperty("output")[0];
        Assert.That(output.GetProperty("content")[0].GetProperty("text").GetString(), Is.EqualTo("up:via responses"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_deployment_with_http2_true_forwards_over_cleartext_HTTP2_and_the_default_over_HTTP11(bool http2)
    {
        var text = $"protocol {http2}";
        var model = http2 ? "gpt-h2c" : "gpt";

        var completion = (await _proxy.Chat(model).CompleteChatAsync([new UserChatMessage(text)])).Value;
        var streamed = new List<string>();
        await foreach (var update in _proxy.Chat(model).CompleteChatStreamingAsync([new UserChatMessage(text + " streamed")]))
        {
            streamed.AddRange(update.ContentUpdate.Select(c => c.Text).Where(t => t.Length > 0));
        }

        Assert.That(completion.Content[0].Text, Is.EqualTo("up:" + text));
        Assert.That(completion.Model, Is.EqualTo(model));
        Assert.That(streamed, Is.EqualTo(new[] { "up:", text + " streamed" }));
        var expected = http2 ? "HTTP/2" : "HTTP/1.1";
        lock (_protocols)
        {
            Assert.That(_protocols.Where(p => p.Text!.StartsWith(text, StringComparison.Ordinal)).Select(p => p.Protocol), Is.EqualTo(new[] { expected, expected }));
        }
    }

    [Test]
    public async Task The_usage_of_a_passed_through_answer_is_counted_in_the_metrics()
    {
        await _proxy.Chat("gpt-counted").CompleteChatAsync([new UserChatMessage("count me")]);
        await _proxy.Chat("gpt-counted").CompleteChatAsync([new UserChatMessage("and me")]);

        using var response = await _proxy.Http.GetAsync("/metrics");
        var metrics = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
        (string, string)[] counted = [("gen_ai_operation_name", "chat"), ("gen_ai_request_model", "gpt-counted")];
        Assert.Multiple(() =>
        {
            Assert.That(metrics.Value("gen_ai_client_token_usage_sum", [.. counted, ("gen_ai_token_type", "input")]), Is.EqualTo(10), "the upstream's 5 prompt tokens, twice");
            Assert.That(metrics.Value("gen_ai_client_token_usage_sum", [.. counted, ("gen_ai_token_type", "output")]), Is.EqualTo(4), "and its 2 completion tokens");
        });
    }

    /// <summary>
    /// <c>--inline-io</c> runs requests on the socket threads (the real process, so the runtime's socket setting is
    /// the one the flag sets): many forwarded completions and streams at once, over HTTP/1.1 and HTTP/2, each
    /// answered with its own text, whole.
    /// </summary>
    [Test]
    public async Task With_inline_io_concurrent_forwarded_completions_and_streams_each_get_their_own_whole_answer()
    {
        var root = ProxyProcess.NewRoot(
            Yaml.Config(
                new Model("gpt", "OpenAiForwarder", ("api_base", _address + "/v1"), ("api_key", "sk-upstream")),
                new Model("gpt-h2c", "OpenAiForwarder", ("api_base", _h2cAddress + "/v1"), ("api_key", "sk-upstream"), ("http2", "true"))),
            "OpenAiForwarder");
        await using var proxy = await ProxyProcess.StartAsync(root, null, "--inline-io");

        var answers = await Task.WhenAll(Enumerable.Range(0, 96).Select(async i =>
        {
            var (model, stream) = (i % 2 == 0 ? "gpt" : "gpt-h2c", i % 3 == 0);
            var body = JsonSerializer.Serialize(new { model, stream, messages = new[] { new { role = "user", content = $"inline {i}" } } });
            using var response = await proxy.Http.PostAsync("/v1/chat/completions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
            return (Expected: $"up:inline {i}", Got: stream ? StreamedText(text) : JsonDocument.Parse(text).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        }));

        Assert.That(answers.Select(a => a.Got), Is.EqualTo(answers.Select(a => a.Expected)));
    }

    /// <summary>The text of an SSE chat stream (its deltas' content, joined); throws unless it ends with [DONE].</summary>
    private static string StreamedText(string sse)
    {
        var data = sse.Split('\n').Where(line => line.StartsWith("data: ", StringComparison.Ordinal)).Select(line => line[6..]).ToList();
        Assert.That(data.LastOrDefault(), Is.EqualTo("[DONE]"), sse);
        return string.Concat(data.SkipLast(1)
            .Select(chunk => JsonDocument.Parse(chunk).RootElement.GetProperty("choices"))
            .Where(choices => choices.GetArrayLength() > 0 && choices[0].GetProperty("delta").TryGetProperty("content", out _))
            .Select(choices => choices[0].GetProperty("delta").GetProperty("content").GetString()));
    }
}
