using System.Net;
using System.Runtime.Loader;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// The <c>IChatClient</c> bridge (<c>PluginHost.Sdk.AI</c>) round trip: OpenAI client → proxy → bridge →
/// a fake <c>IChatClient</c> in a real test plugin → back, in both modes, with tool calls; and the ELIZA
/// sample built on it, packaged with its own copy of the bridge.
/// </summary>
public sealed class ChatClientBridgeTests
{
    private static readonly string Config = Yaml.Config(
        new Model("bridge", "BridgeHandlers:FakeBridge"),
        new Model("chat-only", "BridgeHandlers:ChatOnlyBridge"));

    // The fake client's calls (BridgeHandlers.FakeChatClient.Calls), as the JSON arguments OpenAI carries.
    private static readonly (string Id, string Name, string Arguments)[] FakeCalls =
    [
        ("call_1", "get_weather", """{"city":"Paris","days":3}"""),
        ("call_2", "get_time", """{"zone":"CET","precise":true}"""),
    ];

    [Test]
    public async Task A_chat_response_with_function_calls_becomes_a_completion_with_tool_calls()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "BridgeHandlers");

        var completion = (await proxy.Chat("bridge").CompleteChatAsync([new UserChatMessage("tools")])).Value;

        Assert.Multiple(() =>
        {
            Assert.That(completion.ToolCalls.Select(c => (c.Id, c.FunctionName, c.FunctionArguments.ToString())), Is.EqualTo(FakeCalls));
            Assert.That(completion.Content[0].Text, Is.EqualTo("Calling tools."));
            Assert.That(completion.FinishReason, Is.EqualTo(ChatFinishReason.ToolCalls));
            Assert.That(completion.Id, Is.EqualTo("fake-response"));
            Assert.That((completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount), Is.EqualTo((5, 7, 12)));
        });
    }

    [Test]
    public async Task Reasoning_and_additional_properties_come_back_as_reasoning_content_and_provider_fields()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "BridgeHandlers");

        var response = await proxy.PostJsonAsync("/chat/completions", """{"model":"bridge","messages":[{"role":"user","content":"tools"}]}""");

        var message = response.Json.GetProperty("choices")[0].GetProperty("message");
        Assert.Multiple(() =>
        {
            Assert.That(message.GetProperty("reasoning_content").GetString(), Is.EqualTo("Two lookups needed."));
            Assert.That(message.GetProperty("provider_specific_fields").GetProperty("backend").GetString(), Is.EqualTo("fake"));
            Assert.That(message.GetProperty("provider_specific_fields").GetProperty("latency_ms").GetInt32(), Is.EqualTo(3));
        });
    }

    [Test]
    public async Task Streaming_updates_with_function_calls_reassemble_in_the_OpenAI_SDK_to_the_clients_calls()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "BridgeHandlers");

        var streamed = await StreamedChat.ReadAsync(proxy.Chat("bridge").CompleteChatStreamingAsync([new UserChatMessage("tools")]));

        Assert.Multiple(() =>
        {
            Assert.That(streamed.Calls, Is.EqualTo(FakeCalls));
            Assert.That(streamed.Text, Is.EqualTo("Calling tools."));
            Assert.That(streamed.Finish, Is.EqualTo(ChatFinishReason.ToolCalls));
        });
    }

    [Test]
    public async Task A_stream_carries_reasoning_deltas_and_the_clients_usage()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "BridgeHandlers");

        var response = await proxy.PostJsonAsync("/chat/completions", """{"model":"bridge","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"tools"}]}""");

        var events = response.Events;
        var deltas = events.Where(e => e.GetProperty("choices").GetArrayLength() > 0).Select(e => e.GetProperty("choices")[0].GetProperty("delta")).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(string.Concat(deltas.Where(d => d.TryGetProperty("reasoning_content", out _)).Select(d => d.GetProperty("reasoning_content").GetString())), Is.EqualTo("Two lookups needed."));
            Assert.That(events[^1].GetProperty("usage").GetProperty("total_tokens").GetInt32(), Is.EqualTo(12));
            Assert.That(response.EndsWithDone, Is.True);
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task The_client_receives_the_conversation_and_options_mapped_to_Microsoft_Extensions_AI(bool stream)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "BridgeHandlers");
        var body = """
            {"model":"bridge","stream":STREAM,
             "messages":[
              {"role":"system","content":"be brief","name":"rules"},
              {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAEC"}}]},
              {"role":"assistant","content":null,"reasoning_content":"thought","tool_calls":[{"id":"call_9","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]},
              {"role":"tool","tool_call_id":"call_9","content":"found"},
              {"role":"user","content":"describe"}],
             "temperature":0.5,"max_completion_tokens":42,"stop":"END","user":"u1","top_k":3,
             "tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}],
             "tool_choice":{"type":"function","function":{"name":"lookup"}},
             "response_format":{"type":"json_object"}}
            """.Replace("STREAM", stream ? "true" : "false", StringComparison.Ordinal);

        var response = await proxy.PostJsonAsync("/chat/completions", body);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var text = stream
            ? string.Concat(response.Events.Select(e => e.GetProperty("choices")[0].GetProperty("delta")).Where(d => d.TryGetProperty("content", out _)).Select(d => d.GetProperty("content").GetString()))
            : response.Json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        var received = JsonDocument.Parse(text).RootElement;
        var messages = received.GetProperty("messages").EnumerateArray().ToList();
        var options = received.GetProperty("options");
        Assert.Multiple(() =>
        {
            Assert.That(messages.Select(m => m.GetProperty("role").GetString()), Is.EqualTo(new[] { "system", "user", "assistant", "tool", "user" }));
            Assert.That(messages[0].GetProperty("author").GetString(), Is.EqualTo("rules"));
            Assert.That(Contents(messages[1]), Is.EqualTo(new[] { "text:look", "data:image/png:3" }));
            Assert.That(Contents(messages[2]), Is.EqualTo(new[] { "reasoning:thought", "call:call_9:lookup:q=x" }));
            Assert.That(Contents(messages[3]), Is.EqualTo(new[] { "result:call_9:found" }));
            Assert.That(options.GetProperty("model_id").GetString(), Is.EqualTo("bridge-upstream"));
            Assert.That(options.GetProperty("temperature").GetDouble(), Is.EqualTo(0.5));
            Assert.That(options.GetProperty("max_output_tokens").GetInt32(), Is.EqualTo(42));
            Assert.That(options.GetProperty("stop").GetString(), Is.EqualTo("END"));
            Assert.That(options.GetProperty("tools").GetString(), Is.EqualTo("lookup"));
            Assert.That(options.GetProperty("tool_mode").GetString(), Is.EqualTo("require:lookup"));
            Assert.That(options.GetProperty("response_format").GetString(), Is.EqualTo("json"));
            Assert.That(options.GetProperty("additional").GetString(), Is.EqualTo("top_k=3,user=u1"));
        });

        static IEnumerable<string?> Contents(JsonElement message) => message.GetProperty("contents").EnumerateArray().Select(c => c.GetString());
    }

    [Test]
    public async Task Function_calls_the_client_already_answered_are_not_returned_as_tool_calls()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "BridgeHandlers");

        var completion = (await proxy.Chat("bridge").CompleteChatAsync([new UserChatMessage("answered")])).Value;

        Assert.That(completion.ToolCalls, Is.Empty);
        Assert.That(completion.Content[0].Text, Is.EqualTo("It is noon."));
        Assert.That(completion.FinishReason, Is.EqualTo(ChatFinishReason.Stop));
    }

    [Test]
    public async Task The_embedding_generator_serves_embeddings_to_the_OpenAI_SDK()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "BridgeHandlers");

        var result = (await proxy.OpenAi().GetEmbeddingClient("bridge").GenerateEmbeddingsAsync(["abc", "hello"])).Value;

        Assert.That(result.Select(e => e.ToFloats().ToArray()), Is.EqualTo(new[] { new[] { 3f, 0f, 0.25f }, [5f, 1f, 0.25f] }));
        Assert.That(result.Usage.InputTokenCount, Is.EqualTo(11));
    }

    [Test]
    public async Task A_bridge_without_an_embedding_generator_answers_500_Not_implemented_yet()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "BridgeHandlers");

        var response = await proxy.PostJsonAsync("/embeddings", """{"model":"chat-only","input":"x"}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.InternalServerError), response.Body);
        Assert.That(response.Error().Message, Is.EqualTo("Not implemented yet!"));
    }

    [Test]
    public async Task The_ELIZA_sample_carries_its_own_bridge_and_shares_only_the_core_SDK()
    {
        var sample = TestPaths.SamplePlugin("ElizaHandler");
        Assert.Multiple(() =>
        {
            Assert.That(File.Exists(Path.Combine(sample, "PluginHost.Sdk.AI.dll")), Is.True);
            Assert.That(File.Exists(Path.Combine(sample, "Microsoft.Extensions.AI.Abstractions.dll")), Is.True);
            Assert.That(File.Exists(Path.Combine(sample, "PluginHost.Sdk.dll")), Is.False, "the core SDK is the host's");
        });
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("eliza", "ElizaHandler")), "ElizaHandler");

        var handler = proxy.Runtime.Current.ModelsByName["eliza"].Routes[0].Binding!.Handler;
        var bridge = handler.GetType().BaseType!;
        var abstractions = bridge.GetConstructors(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)[0].GetParameters()[0].ParameterType.Assembly;
        Assert.Multiple(() =>
        {
            Assert.That(bridge.FullName, Is.EqualTo("PluginHost.Sdk.AI.ChatClientLlm"));
            Assert.That(AssemblyLoadContext.GetLoadContext(bridge.Assembly), Is.Not.SameAs(AssemblyLoadContext.Default));
            Assert.That(AssemblyLoadContext.GetLoadContext(abstractions), Is.Not.SameAs(AssemblyLoadContext.Default));
            Assert.That(abstractions.GetName().Name, Is.EqualTo("Microsoft.Extensions.AI.Abstractions"));
            Assert.That(bridge.BaseType, Is.SameAs(typeof(PluginHost.Sdk.CustomLlm)), "the core SDK type is the host's own");
        });
    }

    [Test]
    public async Task The_ELIZA_sample_chats_streams_calls_tools_and_embeds_through_the_proxy()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("eliza", "ElizaHandler")), "ElizaHandler");
        var chat = proxy.Chat("eliza");

        var answer = (await chat.CompleteChatAsync([new UserChatMessage("I feel tired")])).Value;
        var words = new List<string>();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("I need a holiday")]))
        {
            words.AddRange(update.ContentUpdate.Select(c => c.Text).Where(t => t.Length > 0));
        }

        var withTool = (await chat.CompleteChatAsync([new UserChatMessage("remember this")], new ChatCompletionOptions { Tools = { ChatTool.CreateFunctionTool("note") } })).Value;
        var vector = (await proxy.OpenAi().GetEmbeddingClient("eliza").GenerateEmbeddingAsync("hello world")).Value.ToFloats().ToArray();

        Assert.Multiple(() =>
        {
            Assert.That(answer.Content[0].Text, Is.EqualTo("Why do you feel tired?"));
            Assert.That(words, Is.EqualTo(new[] { "Why", " do", " you", " need", " a", " holiday?" }));
            Assert.That(withTool.ToolCalls.Single().FunctionName, Is.EqualTo("note"));
            Assert.That(withTool.ToolCalls.Single().FunctionArguments.ToString(), Is.EqualTo("""{"text":"remember this"}"""));
            Assert.That(vector, Has.Length.EqualTo(256));
            Assert.That(Math.Sqrt(vector.Sum(x => x * x)), Is.EqualTo(1).Within(1e-5));
        });
    }
}
