using System.Net;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>Tool calls, reasoning content and provider-specific fields on <c>/chat/completions</c>, both modes.</summary>
public sealed class ToolCallTests
{
    private static readonly string Config = Yaml.Config(new Model("tooly", "SurfaceHandlers:Everything"));

    // The test handler's calls (SurfaceHandlers.Everything.ToolCalls), arguments joined.
    private static readonly (string Id, string Name, string Arguments)[] HandlerCalls =
    [
        ("call_weather", "get_weather", """{"city":"Paris","unit":"C"}"""),
        ("call_time", "get_time", """{"zone":"CET"}"""),
    ];

    private static readonly ChatCompletionOptions WithTools = new()
    {
        Tools =
        {
            ChatTool.CreateFunctionTool("get_weather", "The weather in a city.", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}""")),
            ChatTool.CreateFunctionTool("get_time", "The time in a zone."),
        },
    };

    [Test]
    public async Task The_OpenAI_SDK_gets_the_handlers_tool_calls_in_a_completion()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var completion = (await proxy.Chat("tooly").CompleteChatAsync([new UserChatMessage("tools")], WithTools)).Value;

        Assert.Multiple(() =>
        {
            Assert.That(completion.ToolCalls.Select(c => (c.Id, c.FunctionName, c.FunctionArguments.ToString())), Is.EqualTo(HandlerCalls));
            Assert.That(completion.FinishReason, Is.EqualTo(ChatFinishReason.ToolCalls));
            Assert.That(completion.Content[0].Text, Is.EqualTo("Let me check."));
        });
    }

    [Test]
    public async Task Streamed_tool_calls_reassembled_by_the_OpenAI_SDK_equal_the_handlers_calls()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var streamed = await StreamedChat.ReadAsync(proxy.Chat("tooly").CompleteChatStreamingAsync([new UserChatMessage("tools")], WithTools));

        Assert.Multiple(() =>
        {
            Assert.That(streamed.Calls, Is.EqualTo(HandlerCalls));
            Assert.That(streamed.Text, Is.EqualTo("Let me check."));
            Assert.That(streamed.Finish, Is.EqualTo(ChatFinishReason.ToolCalls));
        });
    }

    [Test]
    public async Task A_streamed_tool_call_announces_its_id_and_name_once_then_streams_arguments()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/chat/completions", """{"model":"tooly","stream":true,"messages":[{"role":"user","content":"tools"}]}""");

        var deltas = response.Events.Select(e => e.GetProperty("choices")[0].GetProperty("delta")).ToList();
        var weather = deltas.Where(d => d.TryGetProperty("tool_calls", out var calls) && calls[0].GetProperty("index").GetInt32() == 0)
            .Select(d => d.GetProperty("tool_calls")[0]).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(weather, Has.Count.EqualTo(3), "one delta per piece");
            Assert.That(weather[0].GetProperty("id").GetString(), Is.EqualTo("call_weather"));
            Assert.That(weather[0].GetProperty("function").GetProperty("name").GetString(), Is.EqualTo("get_weather"));
            Assert.That(weather.Skip(1).Any(w => w.TryGetProperty("id", out _) || w.GetProperty("function").TryGetProperty("name", out _)), Is.False);
            Assert.That(string.Concat(deltas.Where(d => d.TryGetProperty("reasoning_content", out _)).Select(d => d.GetProperty("reasoning_content").GetString())), Is.EqualTo("The user wants weather and time."));
            Assert.That(deltas.Single(d => d.TryGetProperty("provider_specific_fields", out _)).GetProperty("provider_specific_fields").GetProperty("backend").GetString(), Is.EqualTo("surface"));
        });
    }

    [Test]
    public async Task A_completion_carries_reasoning_content_and_provider_specific_fields()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/chat/completions", """{"model":"tooly","messages":[{"role":"user","content":"tools"}]}""");

        var message = response.Json.GetProperty("choices")[0].GetProperty("message");
        Assert.Multiple(() =>
        {
            Assert.That(message.GetProperty("reasoning_content").GetString(), Is.EqualTo("The user wants weather and time."));
            Assert.That(message.GetProperty("provider_specific_fields").GetProperty("backend").GetString(), Is.EqualTo("surface"));
            Assert.That(message.GetProperty("tool_calls").GetArrayLength(), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Tool_calls_reasoning_and_tool_answers_in_the_history_reach_the_handler()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");
        const string Body = """
            {"model":"tooly","messages":[
              {"role":"user","content":"weather?"},
              {"role":"assistant","content":null,"reasoning_content":"need a lookup","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"sunny"},
              {"role":"user","content":"history"}]}
            """;

        var response = await proxy.PostJsonAsync("/chat/completions", Body);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var described = response.Json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!.Split(" | ");
        Assert.That(described, Is.EqualTo(new[]
        {
            "user:weather?:reasoning=:calls=:answers=",
            "assistant::reasoning=need a lookup:calls=call_1/get_weather/{\"city\":\"Paris\"}:answers=",
            "tool:sunny:reasoning=:calls=:answers=call_1",
            "user:history:reasoning=:calls=:answers=",
        }));
    }
}
