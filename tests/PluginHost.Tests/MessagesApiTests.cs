using System.Net;
using System.Text.Json;
using Anthropic;
using Anthropic.Core;
using Anthropic.Exceptions;
using Anthropic.Models.Messages;
using PluginHost.Tests.Infrastructure;
using Model = PluginHost.Tests.Infrastructure.Model;

namespace PluginHost.Tests;

/// <summary>
/// Anthropic's Messages API (<c>/v1/messages</c>) on handlers' chat methods, with the official Anthropic .NET SDK:
/// text, tool use round trips, thinking and usage in both modes, errors in Anthropic's shape, auth both ways.
/// </summary>
public sealed class MessagesApiTests
{
    private static readonly string Config = Yaml.Config(new Model("tooly", "SurfaceHandlers:Everything"), new Model("scripted", "TestHandlers:Scripted"));

    private const string Tools = """
        "tools":[{"name":"get_weather","description":"The weather in a city.","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
                 {"name":"get_time","input_schema":{"type":"object","properties":{}}}]
        """;

    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers", "TestHandlers");

    [OneTimeTearDown]
    public async Task StopAsync() => await _proxy.DisposeAsync();

    /// <summary>The official client pointed at the proxy, with the key as <c>x-api-key</c> (or as a bearer token).</summary>
    private AnthropicClient Client(bool bearer = false, string key = TestProxy.MasterKey) => new(new ClientOptions
    {
        BaseUrl = _proxy.BaseAddress.ToString().TrimEnd('/'),
        ApiKey = bearer ? null : key,
        AuthToken = bearer ? key : null,
        MaxRetries = 0,
    });

    /// <summary>Request parameters from the body's JSON, as Anthropic documents it.</summary>
    private static MessageCreateParams Params(string json)
    {
        using var body = JsonDocument.Parse(json);
        var fields = body.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());
        return MessageCreateParams.FromRawUnchecked(new Dictionary<string, JsonElement>(), new Dictionary<string, JsonElement>(), fields);
    }

    private static string Say(string text, string model = "tooly", string extra = "") =>
        $$"""{"model":"{{model}}","max_tokens":100,{{extra}}"messages":[{"role":"user","content":{{JsonSerializer.Serialize(text)}}}]}""";

    [Test]
    public async Task The_Anthropic_SDK_gets_a_text_message_with_usage()
    {
        using var client = Client();

        var message = await client.Messages.Create(Params(Say("hello")));

        Assert.Multiple(() =>
        {
            Assert.That(message.Content.Single().TryPickText(out var text) ? text.Text : null, Is.EqualTo("chat:hello"));
            Assert.That(message.StopReason?.Raw(), Is.EqualTo("end_turn"));
            Assert.That(message.ID, Does.StartWith("msg_"));
            Assert.That((message.Usage.InputTokens, message.Usage.OutputTokens), Is.EqualTo((2L, 3L)));
        });
    }

    [Test]
    public async Task The_Anthropic_SDK_streams_a_text_message_with_usage()
    {
        using var client = Client();
        var text = "";
        string? stop = null;
        long? output = null;

        await foreach (var update in client.Messages.CreateStreaming(Params(Say("hello"))))
        {
            if (update.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var piece))
            {
                text += piece.Text;
            }

            if (update.TryPickDelta(out var end))
            {
                stop = end.Delta.StopReason?.Raw();
                output = end.Usage.OutputTokens;
            }
        }

        Assert.That((text, stop, output), Is.EqualTo(("chat:hello", "end_turn", (long?)3)));
    }

    [Test]
    public async Task A_tool_use_round_trip_gets_thinking_tool_use_blocks_and_sends_tool_results_back()
    {
        using var client = Client();

        var message = await client.Messages.Create(Params(Say("tools", extra: Tools + ",")));

        var blocks = message.Content.ToList();
        Assert.Multiple(() =>
        {
            Assert.That(blocks[0].TryPickThinking(out var thinking) ? thinking.Thinking : null, Is.EqualTo("The user wants weather and time."));
            Assert.That(blocks[1].TryPickText(out var text) ? text.Text : null, Is.EqualTo("Let me check."));
            Assert.That(blocks.Skip(2).Select(b => b.TryPickToolUse(out var use) ? $"{use.ID}/{use.Name}/{JsonSerializer.Serialize(use.Input)}" : null), Is.EqualTo(new[]
            {
                "call_weather/get_weather/{\"city\":\"Paris\",\"unit\":\"C\"}", "call_time/get_time/{\"zone\":\"CET\"}",
            }));
            Assert.That(message.StopReason?.Raw(), Is.EqualTo("tool_use"));
            Assert.That((message.Usage.InputTokens, message.Usage.OutputTokens), Is.EqualTo((9L, 8L)));
        });

        // The assistant's turn goes back as it came, with the results: the handler describes the history it got.
        var answer = await client.Messages.Create(Params($$"""
            {"model":"tooly","max_tokens":100,{{Tools}},"messages":[
              {"role":"user","content":"tools"},
              {"role":"assistant","content":{{JsonSerializer.Serialize(message.Content.Select(b => b.Json).ToList())}}},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_weather","content":"sunny"},{"type":"tool_result","tool_use_id":"call_time","content":[{"type":"text","text":"history"}]}]}]}
            """));

        Assert.That(answer.Content.Single().TryPickText(out var described) ? described.Text : null, Is.EqualTo(
            "user:tools:reasoning=:calls=:answers="
            + " | assistant:Let me check.:reasoning=The user wants weather and time.:calls=call_weather/get_weather/{\"city\":\"Paris\",\"unit\":\"C\"},call_time/get_time/{\"zone\":\"CET\"}:answers="
            + " | tool:sunny:reasoning=:calls=:answers=call_weather"
            + " | tool:history:reasoning=:calls=:answers=call_time"));
    }

    [Test]
    public async Task A_streamed_tool_use_reassembled_from_its_events_equals_the_handlers_calls()
    {
        using var client = Client();
        var starts = new Dictionary<long, string>();
        var inputs = new Dictionary<long, string>();
        var thinking = "";
        string? stop = null;

        await foreach (var update in client.Messages.CreateStreaming(Params(Say("tools", extra: Tools + ","))))
        {
            if (update.TryPickContentBlockStart(out var start) && start.ContentBlock.TryPickToolUse(out var use))
            {
                starts[start.Index] = $"{use.ID}/{use.Name}";
                inputs[start.Index] = "";
            }
            else if (update.TryPickContentBlockDelta(out var delta))
            {
                if (delta.Delta.TryPickInputJson(out var json))
                {
                    inputs[delta.Index] += json.PartialJson;
                }
                else if (delta.Delta.TryPickThinking(out var piece))
                {
                    thinking += piece.Thinking;
                }
            }
            else if (update.TryPickDelta(out var end))
            {
                stop = end.Delta.StopReason?.Raw();
            }
        }

        Assert.Multiple(() =>
        {
            Assert.That(starts.OrderBy(s => s.Key).Select(s => $"{s.Value}/{inputs[s.Key]}"), Is.EqualTo(new[]
            {
                "call_weather/get_weather/{\"city\":\"Paris\",\"unit\":\"C\"}", "call_time/get_time/{\"zone\":\"CET\"}",
            }));
            Assert.That(thinking, Is.EqualTo("The user wants weather and time."));
            Assert.That(stop, Is.EqualTo("tool_use"));
        });
    }

    [Test]
    public async Task A_stream_sends_Anthropics_events_in_order()
    {
        var response = await _proxy.PostJsonAsync("/v1/messages", Say("hi", extra: "\"stream\":true,"));

        var events = response.NamedEvents();
        Assert.Multiple(() =>
        {
            Assert.That(events.Select(e => e.Name), Is.EqualTo(new[]
            {
                "message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
            }));
            Assert.That(events.Select(e => e.Data.GetProperty("type").GetString()), Is.EqualTo(events.Select(e => e.Name)));
            Assert.That(events[6].Data.GetProperty("delta").GetProperty("stop_reason").GetString(), Is.EqualTo("end_turn"));
            Assert.That(events[6].Data.GetProperty("usage").GetProperty("output_tokens").GetInt32(), Is.EqualTo(3));
            Assert.That(response.Body, Does.Not.Contain("[DONE]"));
        });
    }

    [Test]
    public async Task Streamed_blocks_never_interleave_and_each_starts_after_the_previous_stopped()
    {
        var response = await _proxy.PostJsonAsync("/v1/messages", Say("tools", extra: "\"stream\":true," + Tools + ","));

        var open = -1;
        var started = new List<string>();
        foreach (var e in response.NamedEvents())
        {
            switch (e.Name)
            {
                case "content_block_start":
                    Assert.That(open, Is.EqualTo(-1), "a block starts only after the previous one stopped");
                    open = e.Data.GetProperty("index").GetInt32();
                    Assert.That(open, Is.EqualTo(started.Count), "blocks are numbered in order");
                    started.Add(e.Data.GetProperty("content_block").GetProperty("type").GetString()!);
                    break;
                case "content_block_delta":
                    Assert.That(e.Data.GetProperty("index").GetInt32(), Is.EqualTo(open));
                    break;
                case "content_block_stop":
                    Assert.That(e.Data.GetProperty("index").GetInt32(), Is.EqualTo(open));
                    open = -1;
                    break;
            }
        }

        Assert.That(started, Is.EqualTo(new[] { "thinking", "text", "tool_use", "tool_use" }));
    }

    [Test]
    public void A_handler_error_before_the_first_event_is_the_status_the_SDK_reports()
    {
        using var client = Client();

        var error = Assert.CatchAsync<AnthropicApiException>(() => client.Messages.Create(Params(Say("fail:429"))));

        Assert.Multiple(() =>
        {
            Assert.That(error!.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That(error.ResponseBody, Does.Contain("scripted failure 429"));
        });
    }

    [TestCase("fail:429", HttpStatusCode.TooManyRequests, "rate_limit_error")]
    [TestCase("fail:503", HttpStatusCode.ServiceUnavailable, "overloaded_error")]
    [TestCase("fail:500", HttpStatusCode.InternalServerError, "api_error")]
    public async Task A_handler_error_before_the_first_event_has_Anthropics_shape(string command, HttpStatusCode status, string type)
    {
        var response = await _proxy.PostJsonAsync("/v1/messages", Say(command, extra: "\"stream\":true,"));

        AssertAnthropicError(response, status, type);
    }

    [Test]
    public async Task A_handler_error_after_the_first_event_is_an_error_event()
    {
        var response = await _proxy.PostJsonAsync("/v1/messages", Say("fail-after-first:429", model: "scripted", extra: "\"stream\":true,"));

        var events = response.NamedEvents();
        Assert.Multiple(() =>
        {
            Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(events.Select(e => e.Name), Is.EqualTo(new[] { "message_start", "ping", "content_block_start", "content_block_delta", "error" }));
            Assert.That(events[^1].Data.GetProperty("error").GetProperty("type").GetString(), Is.EqualTo("rate_limit_error"));
            Assert.That(events[^1].Data.GetProperty("error").GetProperty("message").GetString(), Is.EqualTo("failed after the first chunk"));
        });
    }

    [Test]
    public void The_Anthropic_SDK_reports_an_error_event_after_the_first_as_an_exception()
    {
        using var client = Client();

        Assert.CatchAsync<AnthropicException>(async () =>
        {
            await foreach (var update in client.Messages.CreateStreaming(Params(Say("fail-after-first:500", model: "scripted"))))
            {
                _ = update;
            }
        });
    }

    [TestCase("""{"model":"tooly","messages":[{"role":"user","content":"hi"}]}""", "max_tokens")]
    [TestCase("""{"model":"tooly","max_tokens":10}""", "messages")]
    [TestCase("""{"model":"tooly","max_tokens":10,"messages":[{"role":"system","content":"hi"}]}""", "messages[0].role")]
    [TestCase("""{"model":"tooly","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_result"}]}]}""", "messages[0].content[0].tool_use_id")]
    [TestCase("""{"model":"tooly","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}""", "tools[0].type")]
    [TestCase("""{"model":"tooly","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"temperature":1.5}""", "temperature")]
    [TestCase("""{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}""", "model")]
    [TestCase("""{"model":"nope","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}""", "model")]
    public async Task Bad_input_is_a_400_in_Anthropics_error_shape(string body, string named)
    {
        var response = await _proxy.PostJsonAsync("/v1/messages", body);

        var message = AssertAnthropicError(response, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.That(message, Does.Contain(named));
    }

    [Test]
    public async Task The_key_is_accepted_as_x_api_key_and_as_a_bearer_token()
    {
        using var apiKey = Client();
        using var bearer = Client(bearer: true);

        var byApiKey = await apiKey.Messages.Create(Params(Say("a")));
        var byBearer = await bearer.Messages.Create(Params(Say("b")));

        Assert.That((Text(byApiKey), Text(byBearer)), Is.EqualTo(("chat:a", "chat:b")));
    }

    [Test]
    public async Task A_wrong_or_missing_key_is_a_401_in_Anthropics_shape_and_anthropic_version_is_accepted()
    {
        using var anonymous = new HttpClient { BaseAddress = _proxy.BaseAddress };
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(Say("hi")) };
        wrong.Headers.Add("x-api-key", "sk-wrong");
        wrong.Headers.Add("anthropic-version", "2023-06-01");
        using var missing = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(Say("hi")) };
        using var right = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(Say("hi"), System.Text.Encoding.UTF8, "application/json") };
        right.Headers.Add("x-api-key", TestProxy.MasterKey);
        right.Headers.Add("anthropic-version", "2023-06-01");

        using var wrongResponse = await anonymous.SendAsync(wrong);
        using var missingResponse = await anonymous.SendAsync(missing);
        using var rightResponse = await anonymous.SendAsync(right);

        AssertAnthropicError(new RawResponse(wrongResponse.StatusCode, await wrongResponse.Content.ReadAsStringAsync()), HttpStatusCode.Unauthorized, "authentication_error");
        var message = AssertAnthropicError(new RawResponse(missingResponse.StatusCode, await missingResponse.Content.ReadAsStringAsync()), HttpStatusCode.Unauthorized, "authentication_error");
        Assert.Multiple(async () =>
        {
            Assert.That(message, Does.Contain("x-api-key"));
            Assert.That(rightResponse.StatusCode, Is.EqualTo(HttpStatusCode.OK), await rightResponse.Content.ReadAsStringAsync());
        });
    }

    [Test]
    public async Task x_api_key_is_not_a_key_on_OpenAI_routes()
    {
        using var anonymous = new HttpClient { BaseAddress = _proxy.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent("""{"model":"tooly","messages":[{"role":"user","content":"hi"}]}""") };
        request.Headers.Add("x-api-key", TestProxy.MasterKey);

        using var response = await anonymous.SendAsync(request);

        await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.Unauthorized);
    }

    [Test]
    public async Task System_stop_sequences_sampling_images_and_tool_choice_reach_the_handler_in_chat_shape()
    {
        var response = await _proxy.PostJsonAsync("/v1/messages", """
            {"model":"scripted","max_tokens":50,"system":[{"type":"text","text":"be "},{"type":"text","text":"brief"}],"stop_sequences":["END"],"temperature":0.5,"top_k":5,
             "metadata":{"user_id":"u-1"},"tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true},
             "messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"text","text":"describe"}]}]}
            """);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var described = JsonDocument.Parse(response.Json.GetProperty("content")[0].GetProperty("text").GetString()!).RootElement;
        var messages = described.GetProperty("messages");
        Assert.Multiple(() =>
        {
            Assert.That((messages[0].GetProperty("role").GetString(), messages[0].GetProperty("content").GetString()), Is.EqualTo(("system", "be brief")));
            Assert.That(messages[1].GetProperty("parts").EnumerateArray().Select(p => p.GetString()), Is.EqualTo(new[]
            {
                "image_url:{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}", "text:describe",
            }));
            Assert.That(described.GetProperty("max_tokens").GetInt32(), Is.EqualTo(50));
            Assert.That(described.GetProperty("stop").EnumerateArray().Select(s => s.GetString()), Is.EqualTo(new[] { "END" }));
            Assert.That(described.GetProperty("temperature").GetDouble(), Is.EqualTo(0.5));
            Assert.That(described.GetProperty("user").GetString(), Is.EqualTo("u-1"));
            Assert.That(described.GetProperty("tool_choice").GetRawText(), Is.EqualTo("{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}"));
            Assert.That(described.GetProperty("parallel_tool_calls").GetBoolean(), Is.False);
            Assert.That(described.GetProperty("additional").GetProperty("top_k").GetInt32(), Is.EqualTo(5));
        });
    }

    private static string? Text(Message message) => message.Content.Single().TryPickText(out var text) ? text.Text : null;

    /// <summary>Asserts Anthropic's error shape and type; returns the message.</summary>
    private static string AssertAnthropicError(RawResponse response, HttpStatusCode status, string type)
    {
        Assert.That(response.Status, Is.EqualTo(status), response.Body);
        var json = response.Json;
        Assert.Multiple(() =>
        {
            Assert.That(json.GetProperty("type").GetString(), Is.EqualTo("error"), response.Body);
            Assert.That(json.GetProperty("error").GetProperty("type").GetString(), Is.EqualTo(type), response.Body);
            Assert.That(json.TryGetProperty("param", out _), Is.False, "not OpenAI's shape: " + response.Body);
        });
        return json.GetProperty("error").GetProperty("message").GetString()!;
    }
}
