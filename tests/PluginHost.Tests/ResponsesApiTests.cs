#pragma warning disable OPENAI001 // The Responses client is marked experimental.
using System.ClientModel;
using System.Net;
using System.Text.Json;
using OpenAI.Responses;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// OpenAI's Responses API (<c>/v1/responses</c>) on handlers' chat methods, with the OpenAI .NET SDK's Responses
/// client: text, tool call round trips, reasoning and usage in both modes, the store of recent answers, errors.
/// </summary>
public sealed class ResponsesApiTests
{
    private static readonly string Config = Yaml.Config(new Model("tooly", "SurfaceHandlers:Everything"), new Model("scripted", "TestHandlers:Scripted"));

    // The test handler's calls (SurfaceHandlers.Everything.ToolCalls), arguments joined.
    private static readonly (string Id, string Name, string Arguments)[] HandlerCalls =
    [
        ("call_weather", "get_weather", """{"city":"Paris","unit":"C"}"""),
        ("call_time", "get_time", """{"zone":"CET"}"""),
    ];

    private const string History =
        "user:tools:reasoning=:calls=:answers="
        + " | assistant:Let me check.:reasoning=The user wants weather and time.:calls=call_weather/get_weather/{\"city\":\"Paris\",\"unit\":\"C\"},call_time/get_time/{\"zone\":\"CET\"}:answers="
        + " | tool:sunny:reasoning=:calls=:answers=call_weather"
        + " | tool:history:reasoning=:calls=:answers=call_time";

    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers", "TestHandlers");

    [OneTimeTearDown]
    public async Task StopAsync() => await _proxy.DisposeAsync();

    private ResponsesClient Client => _proxy.OpenAi().GetResponsesClient();

    private static CreateResponseOptions Options(string model, params ResponseItem[] input) => Options(model, stream: false, input);

    private static CreateResponseOptions Options(string model, bool stream, params ResponseItem[] input)
    {
        var options = new CreateResponseOptions(model, input) { StreamingEnabled = stream ? true : null };
        options.Tools.Add(ResponseTool.CreateFunctionTool("get_weather", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}"""), strictModeEnabled: false, "The weather in a city."));
        options.Tools.Add(ResponseTool.CreateFunctionTool("get_time", BinaryData.FromString("""{"type":"object","properties":{}}"""), strictModeEnabled: false, "The time in a zone."));
        return options;
    }

    [Test]
    public async Task The_OpenAI_SDK_gets_a_text_response_with_usage()
    {
        var response = (await Client.CreateResponseAsync("tooly", "hello")).Value;

        Assert.Multiple(() =>
        {
            Assert.That(response.GetOutputText(), Is.EqualTo("chat:hello"));
            Assert.That(response.Status, Is.EqualTo(ResponseStatus.Completed));
            Assert.That(response.Id, Does.StartWith("resp_"));
            Assert.That(response.Model, Is.EqualTo("tooly"));
            Assert.That((response.Usage.InputTokenCount, response.Usage.OutputTokenCount, response.Usage.TotalTokenCount), Is.EqualTo((2, 3, 5)));
        });
    }

    [Test]
    public async Task The_OpenAI_SDK_streams_a_text_response_with_usage()
    {
        var text = "";
        ResponseResult? completed = null;
        await foreach (var update in await Client.CreateResponseStreamingAsync("tooly", "hello"))
        {
            switch (update)
            {
                case StreamingResponseOutputTextDeltaUpdate delta:
                    text += delta.Delta;
                    break;
                case StreamingResponseCompletedUpdate done:
                    completed = done.Response;
                    break;
            }
        }

        Assert.Multiple(() =>
        {
            Assert.That(text, Is.EqualTo("chat:hello"));
            Assert.That(completed!.GetOutputText(), Is.EqualTo("chat:hello"));
            Assert.That(completed.Usage.TotalTokenCount, Is.EqualTo(5));
        });
    }

    [Test]
    public async Task A_tool_call_round_trip_continues_from_the_previous_response()
    {
        var first = (await Client.CreateResponseAsync(Options("tooly", ResponseItem.CreateUserMessageItem("tools")))).Value;

        var calls = first.OutputItems.OfType<FunctionCallResponseItem>().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(calls.Select(c => (c.CallId, c.FunctionName, c.FunctionArguments.ToString())), Is.EqualTo(HandlerCalls));
            Assert.That(first.OutputItems.OfType<ReasoningResponseItem>().Single().GetSummaryText(), Is.EqualTo("The user wants weather and time."));
            Assert.That(first.GetOutputText(), Is.EqualTo("Let me check."));
            Assert.That(first.Usage.TotalTokenCount, Is.EqualTo(17));
        });

        var next = Options("tooly", ResponseItem.CreateFunctionCallOutputItem("call_weather", "sunny"), ResponseItem.CreateFunctionCallOutputItem("call_time", "history"));
        next.PreviousResponseId = first.Id;
        var second = (await Client.CreateResponseAsync(next)).Value;

        Assert.That(second.GetOutputText(), Is.EqualTo(History));
        Assert.That(second.PreviousResponseId, Is.EqualTo(first.Id));
    }

    [Test]
    public async Task A_streamed_tool_call_round_trip_continues_from_the_previous_response()
    {
        var calls = new List<FunctionCallResponseItem>();
        var reasoning = "";
        string? id = null;
        await foreach (var update in await Client.CreateResponseStreamingAsync(Options("tooly", stream: true, ResponseItem.CreateUserMessageItem("tools"))))
        {
            switch (update)
            {
                case StreamingResponseOutputItemDoneUpdate { Item: FunctionCallResponseItem call }:
                    calls.Add(call);
                    break;
                case StreamingResponseReasoningSummaryTextDeltaUpdate delta:
                    reasoning += delta.Delta;
                    break;
                case StreamingResponseCompletedUpdate done:
                    id = done.Response.Id;
                    break;
            }
        }

        Assert.Multiple(() =>
        {
            Assert.That(calls.Select(c => (c.CallId, c.FunctionName, c.FunctionArguments.ToString())), Is.EqualTo(HandlerCalls));
            Assert.That(reasoning, Is.EqualTo("The user wants weather and time."));
        });

        // The handler describes the history it gets only when not streaming: the answer shows what the stream kept.
        var next = Options("tooly", ResponseItem.CreateFunctionCallOutputItem("call_weather", "sunny"), ResponseItem.CreateFunctionCallOutputItem("call_time", "history"));
        next.PreviousResponseId = id;
        var second = (await Client.CreateResponseAsync(next)).Value;

        Assert.That(second.GetOutputText(), Is.EqualTo(History));
    }

    [Test]
    public async Task A_tool_call_round_trip_without_the_store_sends_the_whole_history_as_items()
    {
        var options = Options(
            "tooly",
            ResponseItem.CreateUserMessageItem("tools"),
            ResponseItem.CreateReasoningItem("The user wants weather and time."),
            ResponseItem.CreateAssistantMessageItem("Let me check.", []),
            ResponseItem.CreateFunctionCallItem("call_weather", "get_weather", BinaryData.FromString("""{"city":"Paris","unit":"C"}""")),
            ResponseItem.CreateFunctionCallItem("call_time", "get_time", BinaryData.FromString("""{"zone":"CET"}""")),
            ResponseItem.CreateFunctionCallOutputItem("call_weather", "sunny"),
            ResponseItem.CreateFunctionCallOutputItem("call_time", "history"));
        options.StoredOutputEnabled = false;

        var response = (await Client.CreateResponseAsync(options)).Value;

        Assert.That(response.GetOutputText(), Is.EqualTo(History));
    }

    [Test]
    public async Task A_stored_response_can_be_read_back_by_id()
    {
        var created = (await Client.CreateResponseAsync("tooly", "keep me")).Value;

        var read = (await Client.GetResponseAsync(created.Id)).Value;

        Assert.Multiple(() =>
        {
            Assert.That(read.Id, Is.EqualTo(created.Id));
            Assert.That(read.GetOutputText(), Is.EqualTo("chat:keep me"));
            Assert.That(read.Usage.TotalTokenCount, Is.EqualTo(5));
        });
    }

    [Test]
    public async Task With_store_false_nothing_is_kept()
    {
        var response = await _proxy.PostJsonAsync("/v1/responses", """{"model":"tooly","input":"forget me","store":false}""");
        var id = response.Json.GetProperty("id").GetString();

        var read = await _proxy.Http.GetAsync($"/v1/responses/{id}");
        var continued = await _proxy.PostJsonAsync("/v1/responses", $$"""{"model":"tooly","input":"again","previous_response_id":"{{id}}"}""");

        Assert.Multiple(async () =>
        {
            Assert.That(response.Json.GetProperty("store").GetBoolean(), Is.False);
            var error = await OpenAiErrors.AssertErrorAsync(read, HttpStatusCode.NotFound);
            Assert.That(error.GetProperty("message").GetString(), Does.Contain(id));
            Assert.That(continued.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(continued.Error().Param, Is.EqualTo("previous_response_id"));
        });
    }

    [Test]
    public async Task The_store_keeps_only_the_configured_number_of_responses()
    {
        await using var proxy = await TestProxy.StartAsync(Config + "  responses_store_size: 2\n", "SurfaceHandlers", "TestHandlers");
        var ids = new List<string>();
        foreach (var text in new[] { "one", "two", "three" })
        {
            ids.Add((await proxy.PostJsonAsync("/v1/responses", $$"""{"model":"tooly","input":"{{text}}"}""")).Json.GetProperty("id").GetString()!);
        }

        var statuses = new List<HttpStatusCode>();
        foreach (var id in ids)
        {
            using var read = await proxy.Http.GetAsync($"/v1/responses/{id}");
            statuses.Add(read.StatusCode);
        }

        Assert.That(statuses, Is.EqualTo(new[] { HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.OK }));
    }

    [Test]
    public void A_handler_error_before_the_first_event_is_an_HTTP_error_the_SDK_reports()
    {
        var error = Assert.ThrowsAsync<ClientResultException>(() => Client.CreateResponseAsync("tooly", "fail:429"));

        Assert.Multiple(() =>
        {
            Assert.That(error!.Status, Is.EqualTo(429));
            Assert.That(error.Message, Does.Contain("scripted failure 429"));
        });
    }

    [Test]
    public async Task A_handler_error_before_the_first_event_of_a_stream_is_an_OpenAI_error()
    {
        using var response = await _proxy.PostAsync("/v1/responses", """{"model":"tooly","input":"fail:503","stream":true}""");

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.That(error.GetProperty("message").GetString(), Is.EqualTo("scripted failure 503"));
    }

    [Test]
    public async Task A_handler_error_after_the_first_event_is_a_response_failed_event_the_SDK_sees()
    {
        ResponseResult? failed = null;
        var text = "";
        await foreach (var update in await Client.CreateResponseStreamingAsync("scripted", "fail-after-first:429"))
        {
            text += (update as StreamingResponseOutputTextDeltaUpdate)?.Delta;
            failed = (update as StreamingResponseFailedUpdate)?.Response ?? failed;
        }

        Assert.Multiple(() =>
        {
            Assert.That(text, Is.EqualTo("first"));
            Assert.That(failed!.Status, Is.EqualTo(ResponseStatus.Failed));
            Assert.That(failed.Error.Message, Is.EqualTo("failed after the first chunk"));
        });
    }

    [Test]
    public async Task A_streamed_response_sends_OpenAIs_events_in_order_without_DONE()
    {
        var response = await _proxy.PostJsonAsync("/responses", """{"model":"tooly","input":"hi","stream":true}""");

        var events = response.NamedEvents();
        Assert.Multiple(() =>
        {
            Assert.That(events.Select(e => e.Name), Is.EqualTo(new[]
            {
                "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                "response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
                "response.output_item.done", "response.completed",
            }));
            Assert.That(events.Select(e => e.Data.GetProperty("type").GetString()), Is.EqualTo(events.Select(e => e.Name)));
            Assert.That(events.Select(e => e.Data.GetProperty("sequence_number").GetInt32()), Is.EqualTo(Enumerable.Range(0, events.Count)));
            Assert.That(events[0].Data.GetProperty("response").GetProperty("status").GetString(), Is.EqualTo("in_progress"));
            Assert.That(events[^1].Data.GetProperty("response").GetProperty("status").GetString(), Is.EqualTo("completed"));
            Assert.That(events[^1].Data.GetProperty("response").GetProperty("usage").GetProperty("total_tokens").GetInt32(), Is.EqualTo(5));
            Assert.That(response.Body, Does.Not.Contain("[DONE]"));
        });
    }

    [Test]
    public async Task A_streamed_tool_call_sends_its_arguments_as_deltas_of_one_item_per_call()
    {
        var response = await _proxy.PostJsonAsync("/v1/responses", """{"model":"tooly","input":"tools","stream":true}""");

        var events = response.NamedEvents();
        var added = events.Where(e => e.Name == "response.output_item.added").Select(e => e.Data.GetProperty("item").GetProperty("type").GetString());
        var weather = events.Where(e => e.Name == "response.function_call_arguments.delta" && e.Data.GetProperty("output_index").GetInt32() == 2)
            .Select(e => e.Data.GetProperty("delta").GetString());
        Assert.Multiple(() =>
        {
            Assert.That(added, Is.EqualTo(new[] { "reasoning", "message", "function_call", "function_call" }));
            Assert.That(weather, Is.EqualTo(new[] { "{\"city\":", "\"Paris\",", "\"unit\":\"C\"}" }));
            Assert.That(events.Count(e => e.Name == "response.output_item.done"), Is.EqualTo(4));
            Assert.That(events[^1].Name, Is.EqualTo("response.completed"));
        });
    }

    [Test]
    public async Task A_stream_failing_after_its_first_event_ends_with_response_failed()
    {
        var response = await _proxy.PostJsonAsync("/v1/responses", """{"model":"scripted","input":"fail-after-first:429","stream":true}""");

        var events = response.NamedEvents();
        var failed = events[^1];
        Assert.Multiple(() =>
        {
            Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(failed.Name, Is.EqualTo("response.failed"));
            Assert.That(failed.Data.GetProperty("response").GetProperty("status").GetString(), Is.EqualTo("failed"));
            Assert.That(failed.Data.GetProperty("response").GetProperty("error").GetProperty("code").GetString(), Is.EqualTo("rate_limit_exceeded"));
        });
    }

    [TestCase("""{"model":"tooly"}""", "input")]
    [TestCase("""{"model":"tooly","input":42}""", "input")]
    [TestCase("""{"model":"tooly","input":[{"type":"web_search_call","id":"ws_1"}]}""", "input[0].type")]
    [TestCase("""{"model":"tooly","input":"hi","tools":[{"type":"web_search"}]}""", "tools[0].type")]
    [TestCase("""{"model":"tooly","input":[{"role":"robot","content":"hi"}]}""", "input[0].role")]
    [TestCase("""{"model":"tooly","input":[{"type":"function_call_output","output":"x"}]}""", "input[0].call_id")]
    [TestCase("""{"model":"tooly","input":"hi","temperature":3}""", "temperature")]
    public async Task Bad_input_is_a_400_in_OpenAIs_error_shape(string body, string param)
    {
        using var response = await _proxy.PostAsync("/v1/responses", body);

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.That(error.GetProperty("param").GetString(), Is.EqualTo(param));
    }

    [Test]
    public async Task Instructions_text_format_and_sampling_reach_the_handler_in_chat_shape()
    {
        var response = await _proxy.PostJsonAsync("/v1/responses", """
            {"model":"scripted","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"describe"},{"type":"input_image","image_url":"https://img.example/a.png"}]}],
             "max_output_tokens":64,"temperature":0.5,"text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object"},"strict":true}},
             "tool_choice":{"type":"function","name":"get_weather"},"metadata":{"k":"v"}}
            """);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var described = JsonDocument.Parse(response.Json.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString()!).RootElement;
        var messages = described.GetProperty("messages");
        Assert.Multiple(() =>
        {
            Assert.That((messages[0].GetProperty("role").GetString(), messages[0].GetProperty("content").GetString()), Is.EqualTo(("system", "be brief")));
            Assert.That(messages[1].GetProperty("parts").EnumerateArray().Select(p => p.GetString()), Is.EqualTo(new[]
            {
                "text:describe", "image_url:{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://img.example/a.png\"}}",
            }));
            Assert.That(described.GetProperty("max_completion_tokens").GetInt32(), Is.EqualTo(64));
            Assert.That(described.GetProperty("temperature").GetDouble(), Is.EqualTo(0.5));
            Assert.That(described.GetProperty("response_format").GetString(), Is.EqualTo("json_schema"));
            Assert.That(described.GetProperty("response_format_schema").GetString(), Is.EqualTo("{\"name\":\"answer\",\"strict\":true,\"schema\":{\"type\":\"object\"}}"));
            Assert.That(described.GetProperty("tool_choice").GetRawText(), Is.EqualTo("{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}"));
            Assert.That(described.GetProperty("additional").GetProperty("metadata").GetProperty("k").GetString(), Is.EqualTo("v"));
            Assert.That(response.Json.GetProperty("instructions").GetString(), Is.EqualTo("be brief"));
            Assert.That(response.Json.GetProperty("metadata").GetProperty("k").GetString(), Is.EqualTo("v"));
        });
    }
}
