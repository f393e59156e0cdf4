using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// What every handler endpoint gets from the one request pipeline, checked on each of them: bad text is a 400,
/// a malformed answer a clean 500, an endpoint the handler cannot serve LiteLLM's 500, oversized asks a 400
/// before the handler runs, and a client that leaves cancels the handler.
/// </summary>
public sealed class PipelineTests
{
    /// <summary>The JSON endpoints, each with a body for model <c>{0}</c> whose main string field is <c>{1}</c> (raw JSON string text).</summary>
    public static readonly object[][] JsonEndpoints =
    [
        ["/v1/chat/completions", """{{"model":"{0}","messages":[{{"role":"user","content":"{1}"}}]}}"""],
        ["/v1/completions", """{{"model":"{0}","prompt":"{1}"}}"""],
        ["/v1/embeddings", """{{"model":"{0}","input":"{1}"}}"""],
        ["/v1/images/generations", """{{"model":"{0}","prompt":"{1}"}}"""],
        ["/v1/rerank", """{{"model":"{0}","query":"{1}","documents":["apples are red"]}}"""],
    ];

    public static readonly string[] AllEndpoints = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/images/generations", "/v1/images/edits", "/v1/rerank"];

    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartProxy() => _proxy = await TestProxy.StartAsync(
        Yaml.Config(
            new Model("everything", "SurfaceHandlers:Everything"),
            new Model("bad", "SurfaceHandlers:BadAnswers"),
            new Model("embed-only", "SurfaceHandlers:EmbeddingsOnly")),
        "SurfaceHandlers");

    [OneTimeTearDown]
    public async Task StopProxy() => await _proxy.DisposeAsync();

    [TestCaseSource(nameof(JsonEndpoints))]
    public async Task A_lone_surrogate_in_a_string_field_is_a_400(string path, string template)
    {
        var response = await _proxy.PostJsonAsync(path, string.Format(template, "everything", "\\ud800"));

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        var (message, _, code) = response.Error();
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo("invalid_json"));
            Assert.That(message, Does.Contain("not valid Unicode text"));
        });
    }

    [TestCaseSource(nameof(JsonEndpoints))]
    public async Task A_lone_surrogate_in_the_model_name_is_a_400(string path, string template)
    {
        var response = await _proxy.PostJsonAsync(path, string.Format(template, "\\udc00", "hello"));

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        Assert.That(response.Error().Code, Is.EqualTo("invalid_json"));
    }

    [TestCaseSource(nameof(AllEndpoints))]
    public async Task A_malformed_answer_is_a_complete_500_naming_the_handler_never_half_a_body(string path)
    {
        using var response = await SendAsync(path, "bad", "hello");
        var body = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError), body);
        var error = OpenAiErrors.AssertErrorBody(body);
        Assert.Multiple(() =>
        {
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("Handler 'SurfaceHandlers:BadAnswers' returned an invalid response"));
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("is null"));
            Assert.That(error.GetProperty("type").GetString(), Is.EqualTo("internal_server_error"));
            Assert.That(body, Does.Not.Contain("images.example"), "nothing of the answer was sent before the error");
        });
    }

    [TestCaseSource(nameof(AllEndpoints))]
    public async Task An_endpoint_the_handler_does_not_serve_is_LiteLLMs_500_Not_implemented_yet(string path)
    {
        using var response = await SendAsync(path, "embed-only", "hello");
        var body = await response.Content.ReadAsStringAsync();

        if (path == "/v1/embeddings")
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
            return;
        }

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError), body);
        Assert.That(OpenAiErrors.AssertErrorBody(body).GetProperty("message").GetString(), Is.EqualTo("Not implemented yet!"));
    }

    [TestCaseSource(nameof(AllEndpoints))]
    public async Task A_rate_limited_handler_gives_429_with_Retry_After_rounded_up_to_whole_seconds(string path)
    {
        using var response = await SendAsync(path, "everything", "rate-limited:1.2");

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.TooManyRequests);
        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(2)));
            Assert.That(error.GetProperty("code").GetString(), Is.EqualTo("rate_limit_exceeded"));
            Assert.That(error.GetProperty("type").GetString(), Is.EqualTo("rate_limit_error"));
        });
    }

    [TestCase("context-window", "context_length_exceeded", "maximum context length")]
    [TestCase("content-policy", "content_policy_violation", "safety system")]
    public async Task The_typed_handler_errors_have_OpenAIs_codes(string command, string code, string message)
    {
        var error = Assert.ThrowsAsync<System.ClientModel.ClientResultException>(() => _proxy.Chat("everything").CompleteChatAsync(command))!;
        using var response = await SendAsync("/v1/embeddings", "everything", command);
        var body = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.BadRequest);

        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400));
            Assert.That(error.Message, Does.Contain(message));
            Assert.That(body.GetProperty("code").GetString(), Is.EqualTo(code));
            Assert.That(body.GetProperty("type").GetString(), Is.EqualTo("invalid_request_error"));
        });
    }

    [Test]
    public async Task Models_list_the_endpoints_each_models_handler_serves()
    {
        var list = await _proxy.Http.GetFromJsonAsync<JsonElement>("/v1/models");
        var endpoints = list.GetProperty("data").EnumerateArray().ToDictionary(
            m => m.GetProperty("id").GetString()!,
            m => m.GetProperty("supported_endpoints").EnumerateArray().Select(e => e.GetString()).ToArray());
        var one = await _proxy.Http.GetFromJsonAsync<JsonElement>("/v1/models/embed-only");

        // A handler with chat methods also serves the Responses and Messages APIs, translated onto them.
        string[] all = [AllEndpoints[0], "/v1/responses", "/v1/messages", .. AllEndpoints[1..]];
        Assert.Multiple(() =>
        {
            Assert.That(endpoints["everything"], Is.EqualTo(all));
            Assert.That(endpoints["bad"], Is.EqualTo(all));
            Assert.That(endpoints["embed-only"], Is.EqualTo(new[] { "/v1/embeddings" }));
            Assert.That(one.GetProperty("supported_endpoints").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "/v1/embeddings" }));
        });
    }

    // Each ask that would make the host or handler allocate without bound, the param named, and the limit's key.
    private static readonly object[][] Oversized =
    [
        ["/v1/embeddings", """{"model":"everything","input":"x","dimensions":100000000}""", "dimensions", "max_embedding_dimensions"],
        ["/v1/embeddings", """{"model":"everything","input":"x","dimensions":2147483647}""", "dimensions", "max_embedding_dimensions"],
        ["/v1/embeddings", $$"""{"model":"everything","input":[{{string.Join(",", Enumerable.Repeat("\"x\"", 2049))}}]}""", "input", "max_embedding_inputs"],
        ["/v1/embeddings", $$"""{"model":"everything","input":[{{string.Join(",", Enumerable.Repeat("[1]", 2049))}}]}""", "input", "max_embedding_inputs"],
        ["/v1/rerank", $$"""{"model":"everything","query":"q","documents":[{{string.Join(",", Enumerable.Repeat("\"d\"", 10_001))}}]}""", "documents", "max_rerank_documents"],
        ["/v1/completions", $$"""{"model":"everything","prompt":[{{string.Join(",", Enumerable.Repeat("\"p\"", 2049))}}]}""", "prompt", "max_completion_prompts"],
        ["/v1/images/generations", """{"model":"everything","prompt":"x","n":11}""", "n", "max_images_per_request"],
        ["/v1/images/generations", """{"model":"everything","prompt":"x","size":"100000x100000"}""", "size", "max_image_side_px"],
        ["/v1/images/generations", """{"model":"everything","prompt":"x","size":"1024x2147483647"}""", "size", "max_image_side_px"],
    ];

    [TestCaseSource(nameof(Oversized))]
    public async Task An_oversized_ask_is_a_400_naming_its_limit_before_the_handler_runs(string path, string body, string param, string key)
    {
        var response = await _proxy.PostJsonAsync(path, body);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        var (message, errorParam, code) = response.Error();
        Assert.Multiple(() =>
        {
            Assert.That(errorParam, Is.EqualTo(param));
            Assert.That(code, Is.EqualTo("invalid_value"));
            Assert.That(message, Does.Contain("general_settings." + key));
        });
    }

    [TestCase("n", "11", "max_images_per_request")]
    [TestCase("size", "8192x8192", "max_image_side_px")]
    public async Task An_oversized_image_edit_is_a_400_naming_its_limit(string field, string value, string key)
    {
        using var form = RawHttp.Form([("model", "everything"), ("prompt", "x"), (field, value)], ("image", "a.png", "A"));
        var response = await _proxy.PostAsync("/v1/images/edits", form);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        Assert.That(response.Error().Message, Does.Contain("general_settings." + key));
    }

    [Test]
    public async Task Limits_are_set_in_general_settings()
    {
        var yaml = Yaml.Config(new Model("everything", "SurfaceHandlers:Everything"))
            + "  max_embedding_dimensions: 16\n  max_rerank_documents: 2\n";
        await using var proxy = await TestProxy.StartAsync(yaml, "SurfaceHandlers");

        var atLimit = await proxy.PostJsonAsync("/v1/embeddings", """{"model":"everything","input":"x","dimensions":16}""");
        var over = await proxy.PostJsonAsync("/v1/embeddings", """{"model":"everything","input":"x","dimensions":17}""");
        var documents = await proxy.PostJsonAsync("/v1/rerank", """{"model":"everything","query":"q","documents":["a","b","c"]}""");

        Assert.Multiple(() =>
        {
            Assert.That(atLimit.Status, Is.EqualTo(HttpStatusCode.OK), atLimit.Body);
            Assert.That(over.Status, Is.EqualTo(HttpStatusCode.BadRequest), over.Body);
            Assert.That(over.Error().Message, Does.Contain("(16; general_settings.max_embedding_dimensions)"));
            Assert.That(documents.Status, Is.EqualTo(HttpStatusCode.BadRequest), documents.Body);
        });
    }

    [TestCase("max_embedding_dimensions: 0")]
    [TestCase("max_images_per_request: many")]
    [TestCase("max_image_side_px: -5")]
    public void A_bad_limit_fails_startup_naming_the_key(string setting)
    {
        var yaml = Yaml.Config(new Model("everything", "SurfaceHandlers:Everything")) + $"  {setting}\n";

        var error = Assert.CatchAsync(async () => await (await TestProxy.StartAsync(yaml, "SurfaceHandlers")).DisposeAsync());

        Assert.That(error!.Message, Does.Contain("general_settings." + setting.Split(':')[0]));
    }

    [TestCaseSource(nameof(AllEndpoints))]
    public async Task A_client_that_goes_away_cancels_the_handler(string path)
    {
        var markers = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "markers-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(markers);
        var (started, cancelled) = (Path.Combine(markers, "started"), Path.Combine(markers, "cancelled"));
        await using var proxy = await TestProxy.StartAsync(
            Yaml.Config(new Model("everything", "SurfaceHandlers:Everything", ("started_marker", started), ("cancel_marker", cancelled))),
            "SurfaceHandlers");
        using var leave = new CancellationTokenSource();

        var request = SendAsync(proxy, path, "everything", "hang", leave.Token);
        await Wait.ForFileAsync(started);
        await leave.CancelAsync();

        Assert.CatchAsync<OperationCanceledException>(async () => (await request).Dispose());
        await Wait.ForFileAsync(cancelled);
        Directory.Delete(markers, recursive: true);
    }

    private Task<HttpResponseMessage> SendAsync(string path, string model, string text) => SendAsync(_proxy, path, model, text, CancellationToken.None);

    /// <summary>A request to <paramref name="path"/> for <paramref name="model"/> whose main text field is <paramref name="text"/>.</summary>
    private static Task<HttpResponseMessage> SendAsync(TestProxy proxy, string path, string model, string text, CancellationToken cancellationToken)
    {
        HttpContent content = path == "/v1/images/edits"
            ? RawHttp.Form([("model", model), ("prompt", text)], ("image", "a.png", "A"))
            : new StringContent(string.Format((string)JsonEndpoints.Single(e => (string)e[0] == path)[1], model, text), System.Text.Encoding.UTF8, "application/json");
        return proxy.Http.PostAsync(path, content, cancellationToken);
    }
}
