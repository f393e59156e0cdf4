using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// Every way a request can go wrong gets OpenAI's error body <c>{"error":{"message","type","param","code"}}</c>
/// and the right status: the handler's own status for <c>CustomLlmException</c>, a 4xx for every client mistake,
/// a 500 without a stack trace for a handler bug. Never a hang or a dropped connection.
/// </summary>
public sealed class ErrorTests
{
    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartProxy()
    {
        var config = Yaml.Config(new Model("scripted", "TestHandlers:Scripted")) + "  max_request_size_mb: 0.01\n";
        _proxy = await TestProxy.StartAsync(config, "TestHandlers");
    }

    [OneTimeTearDown]
    public async Task StopProxy() => await _proxy.DisposeAsync();

    [TestCase(400, "invalid_request_error")]
    [TestCase(401, "authentication_error")]
    [TestCase(404, "invalid_request_error")]
    [TestCase(429, "rate_limit_error")]
    [TestCase(500, "internal_server_error")]
    [TestCase(503, "service_unavailable_error")]
    public async Task A_CustomLlmException_is_the_clients_HTTP_status_with_an_OpenAI_error_body(int status, string type)
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body($"fail:{status}"));

        var error = await OpenAiErrors.AssertErrorAsync(response, (HttpStatusCode)status);
        Assert.That(error.GetProperty("message").GetString(), Is.EqualTo($"scripted failure {status}"));
        Assert.That(error.GetProperty("type").GetString(), Is.EqualTo(type));
    }

    [TestCase(200)]
    [TestCase(302)]
    [TestCase(999)]
    public async Task A_CustomLlmException_with_a_status_that_is_not_an_error_is_a_500_with_its_message(int status)
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body($"fail:{status}"));

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.InternalServerError);
        Assert.That(error.GetProperty("message").GetString(), Is.EqualTo($"scripted failure {status}"));
    }

    [TestCase(400)]
    [TestCase(429)]
    [TestCase(503)]
    public async Task A_CustomLlmException_before_the_first_chunk_is_a_plain_HTTP_error_not_a_stream(int status)
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body($"fail:{status}", stream: true));

        var error = await OpenAiErrors.AssertErrorAsync(response, (HttpStatusCode)status);
        Assert.That(error.GetProperty("message").GetString(), Is.EqualTo($"scripted failure {status}"));
    }

    [Test]
    public void The_OpenAI_SDK_sees_a_handlers_status_and_message()
    {
        var plain = Assert.ThrowsAsync<ClientResultException>(() => _proxy.Chat("scripted").CompleteChatAsync([new UserChatMessage("fail:429")]));
        var streaming = Assert.ThrowsAsync<ClientResultException>(async () =>
        {
            await foreach (var update in _proxy.Chat("scripted").CompleteChatStreamingAsync([new UserChatMessage("fail:429")]))
            {
                Assert.Fail("no update is expected, got " + update.CompletionId);
            }
        });

        Assert.Multiple(() =>
        {
            Assert.That(plain.Status, Is.EqualTo(429));
            Assert.That(plain.Message, Does.Contain("scripted failure 429"));
            Assert.That(streaming.Status, Is.EqualTo(429));
            Assert.That(streaming.Message, Does.Contain("scripted failure 429"));
        });
    }

    [TestCase("fail-after-first:429", "failed after the first chunk", "rate_limit_error", "429")]
    [TestCase("crash-after-first", "boom after the first chunk", "internal_server_error", "500")]
    [TestCase("null-chunk-after-first", "yielded null", "internal_server_error", "500")]
    [TestCase("bad-chunk-after-first", "cannot be written", "internal_server_error", "500")]
    public async Task An_error_after_the_first_chunk_is_an_SSE_error_event_that_ends_the_stream(string command, string message, string type, string code)
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body(command, stream: true), completion: HttpCompletionOption.ResponseHeadersRead);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the status was sent with the first chunk");
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/event-stream"));

        using var sse = new SseReader(await response.Content.ReadAsStreamAsync());
        var events = await sse.ReadAllAsync();

        Assert.That(events, Has.Count.EqualTo(2), string.Join("\n", events));
        using var first = JsonDocument.Parse(events[0]);
        Assert.That(first.RootElement.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString(), Is.EqualTo("first"));
        var error = OpenAiErrors.AssertErrorBody(events[1]);
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("message").GetString(), Does.Contain(message));
            Assert.That(error.GetProperty("type").GetString(), Is.EqualTo(type));
            Assert.That(error.GetProperty("code").GetString(), Is.EqualTo(code), "the status travels in code once the HTTP status is sent");
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_plain_exception_in_a_handler_is_a_500_naming_the_handler_without_a_stack_trace(bool stream)
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body("crash", stream));

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.InternalServerError);
        var message = error.GetProperty("message").GetString();
        Assert.Multiple(() =>
        {
            Assert.That(message, Does.Contain("TestHandlers:Scripted"));
            Assert.That(message, Does.Contain("InvalidOperationException: boom"));
            Assert.That(message, Does.Not.Contain("ScriptedHandler.cs"));
            Assert.That(error.GetProperty("type").GetString(), Is.EqualTo("internal_server_error"));
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_handler_returning_null_is_a_500_that_says_so(bool stream)
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body("null", stream));

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.InternalServerError);
        Assert.That(error.GetProperty("message").GetString(), Does.Contain("returned null"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_response_the_handler_built_wrongly_is_a_500_error_never_half_a_body(bool stream)
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body("null-message", stream));
        var body = await response.Content.ReadAsStringAsync();

        if (stream)
        {
            // The first choice was already streamed: the error ends the stream as an event.
            using var sse = new SseReader(new MemoryStream(Encoding.UTF8.GetBytes(body)));
            var events = await sse.ReadAllAsync();
            Assert.That(OpenAiErrors.AssertErrorBody(events[^1]).GetProperty("message").GetString(), Does.Contain("TestHandlers:Scripted"));
        }
        else
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError), body);
            Assert.That(OpenAiErrors.AssertErrorBody(body).GetProperty("message").GetString(), Does.Contain("TestHandlers:Scripted"));
        }
    }

    // Each bad body, the param the error names (null when none), and what the message says.
    private static readonly object?[][] BadBodies =
    [
        ["malformed JSON", """{"model":"scripted","messages":[""", null, "could not parse the JSON body"],
        ["not JSON at all", "model=scripted&messages=hi", null, "could not parse the JSON body"],
        ["empty body", "", null, "body is empty"],
        ["whitespace body", "   \n ", null, "body is empty"],
        ["array body", """[{"model":"scripted"}]""", null, "must be a JSON object, not an array"],
        ["string body", "\"hello\"", null, "must be a JSON object, not a string"],
        ["null body", "null", null, "must be a JSON object, not null"],
        ["missing model", """{"messages":[{"role":"user","content":"hi"}]}""", "model", "must provide a model"],
        ["null model", """{"model":null,"messages":[{"role":"user","content":"hi"}]}""", "model", "must provide a model"],
        ["numeric model", """{"model":42,"messages":[{"role":"user","content":"hi"}]}""", "model", "Invalid type for 'model'"],
        ["empty model", """{"model":"","messages":[{"role":"user","content":"hi"}]}""", "model", "Invalid type for 'model'"],
        ["missing messages", """{"model":"scripted"}""", "messages", "Missing required parameter: 'messages'"],
        ["null messages", """{"model":"scripted","messages":null}""", "messages", "Invalid type for 'messages'"],
        ["string messages", """{"model":"scripted","messages":"hi"}""", "messages", "Invalid type for 'messages'"],
        ["object messages", """{"model":"scripted","messages":{"role":"user","content":"hi"}}""", "messages", "Invalid type for 'messages'"],
        ["empty messages", """{"model":"scripted","messages":[]}""", "messages", "empty array"],
        ["message not an object", """{"model":"scripted","messages":["hi"]}""", "messages[0]", "Invalid type for 'messages[0]'"],
        ["unknown role", """{"model":"scripted","messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role", "Invalid value: 'wizard'"],
        ["numeric role", """{"model":"scripted","messages":[{"role":1,"content":"hi"}]}""", "messages[0].role", "Invalid type for 'messages[0].role'"],
        ["missing role", """{"model":"scripted","messages":[{"content":"hi"}]}""", "messages[0].role", "Missing required parameter"],
        ["lone surrogate in a string", """{"model":"scripted","messages":[{"role":"user","content":"\ud800"}]}""", null, "not valid Unicode"],
        ["lone surrogate in the model", """{"model":"\udc00","messages":[{"role":"user","content":"hi"}]}""", null, "not valid Unicode"],
        ["numeric content", """{"model":"scripted","messages":[{"role":"user","content":5}]}""", "messages[0].content", "Invalid type"],
        ["tool message without id", """{"model":"scripted","messages":[{"role":"tool","content":"x"}]}""", "messages[0].tool_call_id", "Missing required parameter"],
        ["string stream", """{"model":"scripted","stream":"yes","messages":[{"role":"user","content":"hi"}]}""", "stream", "Invalid type for 'stream'"],
        ["temperature out of range", """{"model":"scripted","temperature":3,"messages":[{"role":"user","content":"hi"}]}""", "temperature", "out of range"],
        ["string max_tokens", """{"model":"scripted","max_tokens":"10","messages":[{"role":"user","content":"hi"}]}""", "max_tokens", "Invalid type for 'max_tokens'"],
        ["numeric stop", """{"model":"scripted","stop":7,"messages":[{"role":"user","content":"hi"}]}""", "stop", "Invalid type for 'stop'"],
        ["tool without a name", """{"model":"scripted","tools":[{"type":"function","function":{}}],"messages":[{"role":"user","content":"hi"}]}""", "tools[0].function.name", "Missing required parameter"],
        ["too deep", new string('[', 200) + new string(']', 200), null, "could not parse the JSON body"],
    ];

    [TestCaseSource(nameof(BadBodies))]
    public async Task A_bad_body_is_a_400_with_an_OpenAI_error(string what, string body, string? param, string message)
    {
        using var response = await _proxy.PostAsync("/chat/completions", body);

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("message").GetString(), Does.Contain(message), what);
            Assert.That(error.GetProperty("param").ValueKind == JsonValueKind.Null ? null : error.GetProperty("param").GetString(), Is.EqualTo(param), what);
            Assert.That(error.GetProperty("type").GetString(), Is.EqualTo("invalid_request_error"), what);
        });
    }

    [Test]
    public async Task A_body_that_is_not_UTF8_is_a_400()
    {
        // "content" holds 0xC3 0x28: a UTF-8 lead byte followed by a byte that cannot continue it.
        byte[] body = [.. Encoding.UTF8.GetBytes("{\"model\":\"scripted\",\"messages\":[{\"role\":\"user\",\"content\":\""), 0xC3, 0x28, .. Encoding.UTF8.GetBytes("\"}]}")];
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await _proxy.Http.PostAsync("/chat/completions", content);

        await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task A_body_with_a_UTF8_byte_order_mark_is_read()
    {
        using var content = new ByteArrayContent([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Body("choices:1"))]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await _proxy.Http.PostAsync("/chat/completions", content);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task An_unknown_model_is_a_400_naming_the_model(bool stream)
    {
        using var response = await _proxy.PostAsync("/v1/chat/completions", $$"""{"model":"no-such-model","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""");

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("message").GetString(), Does.StartWith("Invalid model name passed in model=no-such-model."));
            Assert.That(error.GetProperty("param").GetString(), Is.EqualTo("model"));
        });
    }

    [Test]
    public void The_OpenAI_SDK_sees_the_unknown_model_message()
    {
        var error = Assert.ThrowsAsync<ClientResultException>(() => _proxy.Chat("no-such-model").CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.That(error.Status, Is.EqualTo(400));
        Assert.That(error.Message, Does.Contain("Invalid model name passed in model=no-such-model"));
    }

    [Test]
    public async Task A_body_over_max_request_size_mb_with_a_content_length_is_a_413()
    {
        using var response = await _proxy.PostAsync("/chat/completions", OversizeBody());

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.That(error.GetProperty("message").GetString(), Does.Contain("max_request_size_mb"));
    }

    [Test]
    public async Task A_chunked_body_over_max_request_size_mb_is_a_413()
    {
        var bytes = Encoding.UTF8.GetBytes(OversizeBody());
        using var content = new StreamContent(new MemoryStream(bytes));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/chat/completions") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await _proxy.Http.SendAsync(request);

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.That(error.GetProperty("message").GetString(), Does.Contain("max_request_size_mb"));
    }

    [Test]
    public async Task A_body_just_under_max_request_size_mb_is_served()
    {
        var padding = new string('x', 9000);
        using var response = await _proxy.PostAsync("/chat/completions", $$"""{"model":"scripted","messages":[{"role":"user","content":"choices:1"}],"padding":"{{padding}}"}""");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    [TestCase("GET", "/chat/completions")]
    [TestCase("GET", "/v1/chat/completions")]
    [TestCase("PUT", "/v1/chat/completions")]
    [TestCase("DELETE", "/chat/completions")]
    [TestCase("POST", "/v1/models")]
    [TestCase("POST", "/health/liveliness")]
    public async Task A_wrong_method_is_a_405_with_an_OpenAI_error(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);

        using var response = await _proxy.Http.SendAsync(request);

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.MethodNotAllowed);
        Assert.That(error.GetProperty("message").GetString(), Does.Contain(method).And.Contain(path));
    }

    [Test]
    public async Task HEAD_on_a_POST_route_is_a_405()
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, "/v1/chat/completions");

        using var response = await _proxy.Http.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.MethodNotAllowed));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
    }

    [TestCase("/v1/assistants")]
    [TestCase("/nope")]
    [TestCase("/v1/chat/completions/extra")]
    public async Task An_unknown_route_is_a_404_with_an_OpenAI_error(string path)
    {
        using var response = await _proxy.PostAsync(path, Body("hi"));

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.NotFound);
        Assert.That(error.GetProperty("message").GetString(), Does.Contain(path));
    }

    [Test]
    public async Task The_connection_still_serves_requests_after_client_errors()
    {
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var client = new HttpClient(handler) { BaseAddress = _proxy.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestProxy.MasterKey);

        foreach (var body in new[] { "{", "[]", """{"model":"nope","messages":[{"role":"user","content":"hi"}]}""", Body("fail:429") })
        {
            using var bad = await client.PostAsync("/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.That((int)bad.StatusCode, Is.InRange(400, 499), body);
        }

        using var good = await client.PostAsync("/chat/completions", new StringContent(Body("choices:1"), Encoding.UTF8, "application/json"));
        Assert.That(good.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    private static string Body(string command, bool stream = false) =>
        JsonSerializer.Serialize(new { model = "scripted", stream, messages = new[] { new { role = "user", content = command } } });

    private static string OversizeBody() =>
        $$"""{"model":"scripted","messages":[{"role":"user","content":"{{new string('x', 64 * 1024)}}"}]}""";
}
