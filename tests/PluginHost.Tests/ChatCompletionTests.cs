using System.Net;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// <c>POST /chat/completions</c> with the OpenAI .NET SDK and raw JSON: what the client gets back, and what
/// the handler receives in its <c>ChatCompletionRequest</c> (the Scripted handler answers a JSON description of it).
/// </summary>
public sealed class ChatCompletionTests
{
    private const string EnvironmentKey = "PLUGINHOST_TESTS_CHAT_API_KEY";

    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartProxy()
    {
        Environment.SetEnvironmentVariable(EnvironmentKey, "sk-from-the-environment");
        var config = Yaml.Config(
            new Model("scripted", "TestHandlers:Scripted", ("api_base", "http://upstream.example/v1"), ("api_key", "sk-upstream"), ("timeout", "30"), ("region", "eu-west"), ("max_retries", "3")),
            new Model("from-env", "TestHandlers:Scripted", ("api_key", $"os.environ/{EnvironmentKey}")));
        _proxy = await TestProxy.StartAsync(config, "TestHandlers");
    }

    [OneTimeTearDown]
    public async Task StopProxy()
    {
        await _proxy.DisposeAsync();
        Environment.SetEnvironmentVariable(EnvironmentKey, null);
    }

    [Test]
    public async Task The_OpenAI_SDK_gets_a_completion_with_id_created_and_the_requested_model_filled_in()
    {
        var completion = (await _proxy.Chat("scripted").CompleteChatAsync([new UserChatMessage("hello")])).Value;

        Assert.Multiple(() =>
        {
            Assert.That(completion.Id, Does.StartWith("chatcmpl-"));
            Assert.That(completion.Model, Is.EqualTo("scripted"));
            Assert.That(completion.CreatedAt, Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(1)));
            Assert.That(completion.Role, Is.EqualTo(ChatMessageRole.Assistant));
            Assert.That(completion.FinishReason, Is.EqualTo(ChatFinishReason.Stop));
            Assert.That(Describe(completion)["model"].GetString(), Is.EqualTo("scripted-upstream"));
            Assert.That(completion.Usage, Is.Null, "the handler set no usage, and none is invented");
        });
    }

    [Test]
    public async Task The_OpenAI_SDK_streams_a_completion_with_one_id_and_the_requested_model()
    {
        var text = new System.Text.StringBuilder();
        var ids = new HashSet<string>();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in _proxy.Chat("scripted").CompleteChatStreamingAsync([new UserChatMessage("slow:3:1")]))
        {
            ids.Add(update.CompletionId);
            Assert.That(update.Model, Is.EqualTo("scripted"));
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Multiple(() =>
        {
            Assert.That(text.ToString(), Is.EqualTo("[0][1][2]"));
            Assert.That(ids, Has.Count.EqualTo(1));
            Assert.That(ids.Single(), Does.StartWith("chatcmpl-"));
            Assert.That(finish, Is.EqualTo(ChatFinishReason.Stop));
            Assert.That(usage, Is.Not.Null, "the SDK asks for include_usage, so a usage chunk comes (zeros: the handler reported none)");
        });
    }

    [Test]
    public async Task The_handler_receives_the_model_without_its_provider_prefix_and_the_requested_name()
    {
        var received = await SendAsync("""{"model":"scripted","messages":[{"role":"user","content":"hi"}]}""");

        Assert.Multiple(() =>
        {
            Assert.That(received.GetProperty("model").GetString(), Is.EqualTo("scripted-upstream"));
            Assert.That(received.GetProperty("requested_model").GetString(), Is.EqualTo("scripted"));
            Assert.That(received.GetProperty("stream").GetBoolean(), Is.False);
        });
    }

    [Test]
    public async Task The_common_parameters_reach_the_handler_typed()
    {
        var received = await SendAsync("""
            {"model":"scripted","messages":[{"role":"user","content":"hi"}],
             "temperature":0.5,"top_p":0.9,"max_tokens":100,"max_completion_tokens":50,"n":1,"seed":42,
             "presence_penalty":0.25,"frequency_penalty":-0.5,"user":"user-7","stop":["END","STOP"],
             "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],
             "tool_choice":"auto","parallel_tool_calls":false,
             "response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"}}}}
            """);

        Assert.Multiple(() =>
        {
            Assert.That(received.GetProperty("temperature").GetDouble(), Is.EqualTo(0.5));
            Assert.That(received.GetProperty("top_p").GetDouble(), Is.EqualTo(0.9));
            Assert.That(received.GetProperty("max_tokens").GetInt32(), Is.EqualTo(100));
            Assert.That(received.GetProperty("max_completion_tokens").GetInt32(), Is.EqualTo(50));
            Assert.That(received.GetProperty("n").GetInt32(), Is.EqualTo(1));
            Assert.That(received.GetProperty("seed").GetInt64(), Is.EqualTo(42));
            Assert.That(received.GetProperty("presence_penalty").GetDouble(), Is.EqualTo(0.25));
            Assert.That(received.GetProperty("frequency_penalty").GetDouble(), Is.EqualTo(-0.5));
            Assert.That(received.GetProperty("user").GetString(), Is.EqualTo("user-7"));
            Assert.That(Strings(received.GetProperty("stop")), Is.EqualTo(new[] { "END", "STOP" }));
            Assert.That(Strings(received.GetProperty("tools")), Is.EqualTo(new[] { """function:get_weather:{"type":"object"}""" }));
            Assert.That(received.GetProperty("tool_choice").GetString(), Is.EqualTo("auto"));
            Assert.That(received.GetProperty("parallel_tool_calls").GetBoolean(), Is.False);
            Assert.That(received.GetProperty("response_format").GetString(), Is.EqualTo("json_schema"));
            Assert.That(received.GetProperty("response_format_schema").GetString(), Does.Contain("\"name\":\"answer\""));
            Assert.That(received.GetProperty("additional").EnumerateObject(), Is.Empty, "typed fields are not repeated untyped");
        });
    }

    [Test]
    public async Task A_single_stop_string_becomes_a_one_item_list()
    {
        var received = await SendAsync("""{"model":"scripted","messages":[{"role":"user","content":"hi"}],"stop":"END"}""");

        Assert.That(Strings(received.GetProperty("stop")), Is.EqualTo(new[] { "END" }));
    }

    [Test]
    public async Task The_OpenAI_SDKs_options_reach_the_handler()
    {
        var options = new ChatCompletionOptions
        {
            Temperature = 0.25f,
            TopP = 0.5f,
            MaxOutputTokenCount = 64,
            EndUserId = "sdk-user",
            ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat(),
            ToolChoice = ChatToolChoice.CreateAutoChoice(),
        };
        options.StopSequences.Add("STOP");
        options.Tools.Add(ChatTool.CreateFunctionTool("lookup", "Looks something up", BinaryData.FromString("""{"type":"object","properties":{}}""")));

        var completion = (await _proxy.Chat("scripted").CompleteChatAsync([new SystemChatMessage("be brief"), new UserChatMessage("hi")], options)).Value;
        var received = Describe(completion);

        Assert.Multiple(() =>
        {
            Assert.That(received["temperature"].GetDouble(), Is.EqualTo(0.25));
            Assert.That(received["top_p"].GetDouble(), Is.EqualTo(0.5));
            Assert.That(received["max_completion_tokens"].GetInt32(), Is.EqualTo(64));
            Assert.That(received["user"].GetString(), Is.EqualTo("sdk-user"));
            Assert.That(received["response_format"].GetString(), Is.EqualTo("json_object"));
            Assert.That(received["tool_choice"].GetString(), Is.EqualTo("auto"));
            Assert.That(Strings(received["stop"]), Is.EqualTo(new[] { "STOP" }));
            Assert.That(Strings(received["tools"]).Single(), Does.StartWith("function:lookup:"));
            Assert.That(received["messages"].EnumerateArray().Select(m => m.GetProperty("role").GetString()), Is.EqualTo(new[] { "system", "user" }));
        });
    }

    [Test]
    public async Task Fields_the_contract_does_not_type_reach_the_handler_untouched()
    {
        var received = await SendAsync("""
            {"model":"scripted","metadata":{"trace":"t-1","depth":[1,2]},"logit_bias":{"50256":-100},"my_flag":true,
             "messages":[{"role":"user","content":"hi","cache_control":{"type":"ephemeral"}}]}
            """);

        var additional = received.GetProperty("additional");
        Assert.Multiple(() =>
        {
            Assert.That(additional.GetProperty("metadata").GetRawText(), Is.EqualTo("""{"trace":"t-1","depth":[1,2]}"""));
            Assert.That(additional.GetProperty("logit_bias").GetRawText(), Is.EqualTo("""{"50256":-100}"""));
            Assert.That(additional.GetProperty("my_flag").GetBoolean(), Is.True);
            Assert.That(received.GetProperty("messages")[0].GetProperty("additional").GetProperty("cache_control").GetRawText(), Is.EqualTo("""{"type":"ephemeral"}"""));
        });
    }

    [Test]
    public async Task The_deployments_litellm_params_api_base_api_key_and_timeout_reach_the_handler()
    {
        var received = await SendAsync("""{"model":"scripted","messages":[{"role":"user","content":"hi"}]}""");

        var litellmParams = received.GetProperty("litellm_params");
        Assert.Multiple(() =>
        {
            Assert.That(received.GetProperty("api_base").GetString(), Is.EqualTo("http://upstream.example/v1"));
            Assert.That(received.GetProperty("api_key").GetString(), Is.EqualTo("sk-upstream"));
            Assert.That(received.GetProperty("timeout_s").GetDouble(), Is.EqualTo(30));
            Assert.That(litellmParams.GetProperty("region").GetString(), Is.EqualTo("eu-west"));
            Assert.That(litellmParams.GetProperty("max_retries").GetString(), Is.EqualTo("3"));
            Assert.That(litellmParams.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(new[] { "region", "max_retries" }), "model, api_base, api_key and timeout are typed, not repeated");
        });
    }

    [Test]
    public async Task An_os_environ_value_in_the_config_is_read_from_the_environment()
    {
        var received = await SendAsync("""{"model":"from-env","messages":[{"role":"user","content":"hi"}]}""");

        Assert.That(received.GetProperty("api_key").GetString(), Is.EqualTo("sk-from-the-environment"));
    }

    [Test]
    public async Task Content_parts_reach_the_handler_as_parts_with_their_text_joined_into_Content()
    {
        var received = await SendAsync("""
            {"model":"scripted","messages":[{"role":"user","content":[
              {"type":"text","text":"Hello "},
              {"type":"image_url","image_url":{"url":"https://example.com/cat.png"}},
              {"type":"text","text":"world"}]}]}
            """);

        var message = received.GetProperty("messages")[0];
        Assert.Multiple(() =>
        {
            Assert.That(message.GetProperty("content").GetString(), Is.EqualTo("Hello world"));
            Assert.That(Strings(message.GetProperty("parts")), Is.EqualTo(new[]
            {
                "text:Hello ",
                """image_url:{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}""",
                "text:world",
            }));
        });
    }

    [Test]
    public async Task A_conversation_with_tool_calls_names_and_tool_results_reaches_the_handler()
    {
        var received = await SendAsync("""
            {"model":"scripted","messages":[
              {"role":"system","content":"be brief"},
              {"role":"user","name":"ann","content":"weather?"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"sunny"},
              {"role":"user","content":"thanks"}]}
            """);

        var messages = received.GetProperty("messages");
        Assert.Multiple(() =>
        {
            Assert.That(messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()), Is.EqualTo(new[] { "system", "user", "assistant", "tool", "user" }));
            Assert.That(messages[1].GetProperty("name").GetString(), Is.EqualTo("ann"));
            Assert.That(messages[2].GetProperty("content").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(Strings(messages[2].GetProperty("tool_calls")), Is.EqualTo(new[] { """call_1:get_weather:{"city":"Paris"}""" }));
            Assert.That(messages[3].GetProperty("tool_call_id").GetString(), Is.EqualTo("call_1"));
            Assert.That(messages[3].GetProperty("content").GetString(), Is.EqualTo("sunny"));
        });
    }

    [Test]
    public async Task A_body_sent_as_text_plain_is_still_read_as_JSON()
    {
        var received = await SendAsync("""{"model":"scripted","messages":[{"role":"user","content":"hi"}]}""", "text/plain");

        Assert.That(received.GetProperty("requested_model").GetString(), Is.EqualTo("scripted"));
    }

    [Test]
    public async Task Every_choice_a_handler_returns_reaches_the_client_with_its_index()
    {
        using var response = await _proxy.PostAsync("/v1/chat/completions", """{"model":"scripted","n":3,"messages":[{"role":"user","content":"choices:3"}]}""");
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);

        using var json = JsonDocument.Parse(body);
        var choices = json.RootElement.GetProperty("choices").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(choices.Select(c => c.GetProperty("index").GetInt32()), Is.EqualTo(new[] { 0, 1, 2 }));
            Assert.That(choices.Select(c => c.GetProperty("message").GetProperty("content").GetString()), Is.EqualTo(new[] { "choice 0", "choice 1", "choice 2" }));
            Assert.That(choices.Select(c => c.GetProperty("finish_reason").GetString()), Is.All.EqualTo("stop"));
        });
    }

    [Test]
    public async Task Tool_calls_in_a_completion_parse_in_the_OpenAI_SDK()
    {
        var completion = (await _proxy.Chat("scripted").CompleteChatAsync([new UserChatMessage("tool-call")])).Value;

        Assert.Multiple(() =>
        {
            Assert.That(completion.FinishReason, Is.EqualTo(ChatFinishReason.ToolCalls));
            Assert.That(completion.ToolCalls, Has.Count.EqualTo(1));
            Assert.That(completion.ToolCalls[0].Id, Is.EqualTo("call_weather_1"));
            Assert.That(completion.ToolCalls[0].Kind, Is.EqualTo(ChatToolCallKind.Function));
            Assert.That(completion.ToolCalls[0].FunctionName, Is.EqualTo("get_weather"));
            Assert.That(completion.ToolCalls[0].FunctionArguments.ToString(), Is.EqualTo("""{"city":"Paris"}"""));
            Assert.That(completion.Content, Is.Empty, "content is null when the answer is only tool calls");
            Assert.That(completion.Usage.TotalTokenCount, Is.EqualTo(12));
        });
    }

    private async Task<JsonElement> SendAsync(string body, string contentType = "application/json")
    {
        using var response = await _proxy.PostAsync("/chat/completions", body, contentType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        using var json = JsonDocument.Parse(text);
        var content = json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        using var described = JsonDocument.Parse(content);
        return described.RootElement.Clone();
    }

    private static Dictionary<string, JsonElement> Describe(ChatCompletion completion)
    {
        using var json = JsonDocument.Parse(completion.Content[0].Text);
        return json.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());
    }

    private static string?[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString())];
}
