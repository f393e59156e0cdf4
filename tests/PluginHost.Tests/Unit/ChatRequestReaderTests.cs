using System.Text.Json;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary><see cref="ChatRequestReader"/>: a <c>/chat/completions</c> body into a <see cref="ChatCompletionRequest"/>, without a host.</summary>
public sealed class ChatRequestReaderTests
{
    private const string Hi = """[{"role":"user","content":"hi"}]""";

    private static ChatCompletionRequest Read(string json) => ChatRequestReader.Read(Parse(json), Target);

    /// <summary>A body with <paramref name="fields"/> (JSON members, without braces) besides model and a one-message conversation.</summary>
    private static string With(string fields) => $$"""{"model":"asked-model","messages":{{Hi}},{{fields}}}""";

    [Test]
    public void Every_top_level_field_lands_in_the_request()
    {
        var request = Read("""
            {
              "model": "asked-model",
              "messages": [{"role":"user","content":"hi"}],
              "stream": true,
              "temperature": 0.5,
              "top_p": 0.25,
              "presence_penalty": -1.5,
              "frequency_penalty": 2,
              "max_tokens": 100,
              "max_completion_tokens": 200,
              "n": 3,
              "seed": -9007199254740993,
              "user": "user-7",
              "stop": ["END", "STOP"],
              "tools": [{"type":"function","function":{"name":"lookup","description":"Finds things.","parameters":{"type":"object","properties":{}},"strict":true}}],
              "tool_choice": {"type":"function","function":{"name":"lookup"}},
              "parallel_tool_calls": false,
              "response_format": {"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"}}},
              "stream_options": {"include_usage": true}
            }
            """);

        Assert.Multiple(() =>
        {
            Assert.That(request.Stream, Is.True);
            Assert.That(request.Temperature, Is.EqualTo(0.5));
            Assert.That(request.TopP, Is.EqualTo(0.25));
            Assert.That(request.PresencePenalty, Is.EqualTo(-1.5));
            Assert.That(request.FrequencyPenalty, Is.EqualTo(2));
            Assert.That(request.MaxTokens, Is.EqualTo(100));
            Assert.That(request.MaxCompletionTokens, Is.EqualTo(200));
            Assert.That(request.N, Is.EqualTo(3));
            Assert.That(request.Seed, Is.EqualTo(-9007199254740993L), "a seed beyond double precision is read exactly");
            Assert.That(request.User, Is.EqualTo("user-7"));
            Assert.That(request.Stop, Is.EqualTo(new[] { "END", "STOP" }));
            Assert.That(request.Tools, Has.Count.EqualTo(1));
            var tool = request.Tools![0];
            Assert.That(tool.Type, Is.EqualTo("function"));
            Assert.That(tool.Function.Name, Is.EqualTo("lookup"));
            Assert.That(tool.Function.Description, Is.EqualTo("Finds things."));
            Assert.That(tool.Function.Parameters?.GetRawText(), Is.EqualTo("""{"type":"object","properties":{}}"""));
            Assert.That(tool.Function.Strict, Is.True);
            Assert.That(request.ToolChoice?.GetRawText(), Is.EqualTo("""{"type":"function","function":{"name":"lookup"}}"""));
            Assert.That(request.ParallelToolCalls, Is.False);
            Assert.That(request.ResponseFormat?.Type, Is.EqualTo("json_schema"));
            Assert.That(request.ResponseFormat?.JsonSchema?.GetRawText(), Is.EqualTo("""{"name":"answer","schema":{"type":"object"}}"""));
            Assert.That(request.StreamOptions?.IncludeUsage, Is.True);
            Assert.That(request.AdditionalProperties, Is.Empty);
        });
    }

    [Test]
    public void Absent_fields_take_their_defaults()
    {
        var request = Read($$"""{"model":"asked-model","messages":{{Hi}}}""");

        Assert.Multiple(() =>
        {
            Assert.That(request.Stream, Is.False);
            Assert.That(request.Temperature, Is.Null);
            Assert.That(request.TopP, Is.Null);
            Assert.That(request.PresencePenalty, Is.Null);
            Assert.That(request.FrequencyPenalty, Is.Null);
            Assert.That(request.MaxTokens, Is.Null);
            Assert.That(request.MaxCompletionTokens, Is.Null);
            Assert.That(request.N, Is.Null);
            Assert.That(request.Seed, Is.Null);
            Assert.That(request.User, Is.Null);
            Assert.That(request.Stop, Is.Null);
            Assert.That(request.Tools, Is.Null);
            Assert.That(request.ToolChoice, Is.Null);
            Assert.That(request.ParallelToolCalls, Is.Null);
            Assert.That(request.ResponseFormat, Is.Null);
            Assert.That(request.StreamOptions, Is.Null);
            Assert.That(request.AdditionalProperties, Is.Empty);
        });
    }

    [TestCase("stream")]
    [TestCase("temperature")]
    [TestCase("top_p")]
    [TestCase("presence_penalty")]
    [TestCase("frequency_penalty")]
    [TestCase("max_tokens")]
    [TestCase("max_completion_tokens")]
    [TestCase("n")]
    [TestCase("seed")]
    [TestCase("user")]
    [TestCase("stop")]
    [TestCase("tools")]
    [TestCase("tool_choice")]
    [TestCase("parallel_tool_calls")]
    [TestCase("response_format")]
    [TestCase("stream_options")]
    public void An_optional_field_sent_as_null_reads_as_absent(string field)
    {
        var request = Read(With($"\"{field}\": null"));

        Assert.That(request, Is.EqualTo(Read($$"""{"model":"asked-model","messages":{{Hi}}}""") with { Messages = request.Messages }));
    }

    [TestCase("\"stop\": \"END\"", new[] { "END" })]
    [TestCase("\"stop\": []", new string[0])]
    [TestCase("\"stop\": [\"a\", \"\"]", new[] { "a", "" })]
    public void Stop_is_a_list_whether_sent_as_a_string_or_an_array(string field, string[] expected)
    {
        Assert.That(Read(With(field)).Stop, Is.EqualTo(expected));
    }

    [TestCase("\"temperature\": 0")]
    [TestCase("\"temperature\": 2")]
    [TestCase("\"top_p\": 0")]
    [TestCase("\"top_p\": 1")]
    [TestCase("\"presence_penalty\": -2")]
    [TestCase("\"frequency_penalty\": 2")]
    [TestCase("\"max_tokens\": 1")]
    [TestCase("\"max_completion_tokens\": 2147483647")]
    [TestCase("\"n\": 1")]
    [TestCase("\"n\": 128")]
    [TestCase("\"seed\": 0")]
    [TestCase("\"tool_choice\": \"auto\"")]
    [TestCase("\"stream_options\": {}")]
    [TestCase("\"response_format\": {\"type\": \"text\"}")]
    public void A_value_at_the_edge_of_its_range_is_accepted(string field)
    {
        Assert.That(() => Read(With(field)), Throws.Nothing);
    }

    [Test]
    public void Each_message_keeps_role_content_name_tool_calls_and_its_unknown_fields()
    {
        var request = Read("""
            {"model":"asked-model","messages":[
              {"role":"system","content":"Be brief.","name":"rules"},
              {"role":"developer","content":"dev"},
              {"role":"user","content":"hi","x_trace":{"id":7}},
              {"role":"assistant","content":null,"reasoning_content":"thinking","tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":1}"}},
                {"id":"call_2","function":{"name":"noop"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"42"},
              {"role":"function","name":"legacy","content":"old"}
            ]}
            """);

        var m = request.Messages;
        Assert.That(m, Has.Count.EqualTo(6));
        Assert.Multiple(() =>
        {
            Assert.That(m.Select(x => x.Role.Value), Is.EqualTo(new[] { "system", "developer", "user", "assistant", "tool", "function" }));
            Assert.That(m.Select(x => x.Content), Is.EqualTo(new[] { "Be brief.", "dev", "hi", null, "42", "old" }));
            Assert.That(m.Select(x => x.Name), Is.EqualTo(new[] { "rules", null, null, null, null, "legacy" }));
            Assert.That(m[0].ContentParts, Is.Null, "plain string content has no parts");
            Assert.That(Raw(m[2].AdditionalProperties), Is.EqualTo(new Dictionary<string, string> { ["x_trace"] = """{"id":7}""" }));
            Assert.That(m[0].AdditionalProperties, Is.Empty);
            Assert.That(m[3].ReasoningContent, Is.EqualTo("thinking"));
            Assert.That(m[3].ToolCalls, Is.EqualTo(new[]
            {
                new ToolCall { Id = "call_1", Type = "function", Function = new FunctionCall("lookup", """{"q":1}""") },
                new ToolCall { Id = "call_2", Type = "function", Function = new FunctionCall("noop", "") },
            }), "type defaults to function, missing arguments to empty");
            Assert.That(m[4].ToolCallId, Is.EqualTo("call_1"));
            Assert.That(m[0].ToolCalls, Is.Null);
        });
    }

    [Test]
    public void Content_parts_keep_every_part_as_sent_and_join_their_text()
    {
        var message = Read("""
            {"model":"asked-model","messages":[{"role":"user","content":[
              {"type":"text","text":"Look at "},
              {"type":"image_url","image_url":{"url":"https://img.example/a.png","detail":"low"}},
              {"type":"text","text":"this."}
            ]}]}
            """).Messages[0];

        Assert.Multiple(() =>
        {
            Assert.That(message.Content, Is.EqualTo("Look at this."));
            Assert.That(message.ContentParts!.Select(p => p.Type), Is.EqualTo(new[] { "text", "image_url", "text" }));
            Assert.That(message.ContentParts!.Select(p => p.Text), Is.EqualTo(new[] { "Look at ", null, "this." }));
            Assert.That(message.ContentParts![1].Raw.GetRawText(), Is.EqualTo("""{"type":"image_url","image_url":{"url":"https://img.example/a.png","detail":"low"}}"""));
        });
    }

    [Test]
    public void Content_parts_without_text_leave_content_null()
    {
        var message = Read("""{"model":"asked-model","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}""").Messages[0];

        Assert.Multiple(() =>
        {
            Assert.That(message.Content, Is.Null);
            Assert.That(message.ContentParts, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public void A_tool_without_type_description_parameters_or_strict_gets_the_defaults()
    {
        var tool = Read(With("""
            "tools": [{"function":{"name":"bare"}}]
            """)).Tools![0];

        Assert.That(tool, Is.EqualTo(new ChatTool { Type = "function", Function = new FunctionDefinition { Name = "bare" } }));
    }

    [TestCase("\"tool_choice\": \"none\"", JsonValueKind.String)]
    [TestCase("\"tool_choice\": {\"type\":\"function\",\"function\":{\"name\":\"f\"}}", JsonValueKind.Object)]
    public void Tool_choice_is_kept_as_sent(string field, JsonValueKind kind)
    {
        Assert.That(Read(With(field)).ToolChoice?.ValueKind, Is.EqualTo(kind));
    }

    // Every way a body can be wrong, the param OpenAI names, its code, and a piece of the message.
    private static readonly object[][] BadBodies =
    [
        ["""{"model":"m"}""", "messages", "missing_required_parameter", "Missing required parameter: 'messages'."],
        ["""{"model":"m","messages":null}""", "messages", "invalid_type", "expected an array, but got null"],
        ["""{"model":"m","messages":"hi"}""", "messages", "invalid_type", "expected an array, but got a string"],
        ["""{"model":"m","messages":{"role":"user","content":"hi"}}""", "messages", "invalid_type", "but got an object"],
        ["""{"model":"m","messages":[]}""", "messages", "empty_array", "empty array"],
        ["""{"model":"m","messages":["hi"]}""", "messages[0]", "invalid_type", "Invalid type for 'messages[0]': expected an object"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"},null]}""", "messages[1]", "invalid_type", "got null"],
        ["""{"model":"m","messages":[{"content":"hi"}]}""", "messages[0].role", "missing_required_parameter", "Missing required parameter: 'messages[0].role'."],
        ["""{"model":"m","messages":[{"role":null,"content":"hi"}]}""", "messages[0].role", "invalid_type", "got null"],
        ["""{"model":"m","messages":[{"role":1,"content":"hi"}]}""", "messages[0].role", "invalid_type", "expected a string"],
        ["""{"model":"m","messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role", "invalid_value", "Invalid value: 'wizard'."],
        ["""{"model":"m","messages":[{"role":"User","content":"hi"}]}""", "messages[0].role", "invalid_value", "Invalid value: 'User'."],
        ["""{"model":"m","messages":[{"role":"user","content":5}]}""", "messages[0].content", "invalid_type", "a string or an array of content parts"],
        ["""{"model":"m","messages":[{"role":"user","content":{"type":"text","text":"x"}}]}""", "messages[0].content", "invalid_type", "but got an object"],
        ["""{"model":"m","messages":[{"role":"user","content":["hi"]}]}""", "messages[0].content[0]", "invalid_type", "a string 'type'"],
        ["""{"model":"m","messages":[{"role":"user","content":[{"text":"hi"}]}]}""", "messages[0].content[0]", "invalid_type", "a string 'type'"],
        ["""{"model":"m","messages":[{"role":"user","content":[{"type":7}]}]}""", "messages[0].content[0]", "invalid_type", "a string 'type'"],
        ["""{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}""", "messages[0].content[0].text", "missing_required_parameter", "'messages[0].content[0].text'"],
        ["""{"model":"m","messages":[{"role":"user","content":"a","name":5}]}""", "messages[0].name", "invalid_type", "expected a string"],
        ["""{"model":"m","messages":[{"role":"tool","content":"x"}]}""", "messages[0].tool_call_id", "missing_required_parameter", "'messages[0].tool_call_id'"],
        ["""{"model":"m","messages":[{"role":"tool","content":"x","tool_call_id":null}]}""", "messages[0].tool_call_id", "missing_required_parameter", "'messages[0].tool_call_id'"],
        ["""{"model":"m","messages":[{"role":"tool","content":"x","tool_call_id":5}]}""", "messages[0].tool_call_id", "invalid_type", "expected a string"],
        ["""{"model":"m","messages":[{"role":"assistant","reasoning_content":[]}]}""", "messages[0].reasoning_content", "invalid_type", "expected a string"],
        ["""{"model":"m","messages":[{"role":"assistant","tool_calls":{}}]}""", "messages[0].tool_calls", "invalid_type", "expected an array"],
        ["""{"model":"m","messages":[{"role":"assistant","tool_calls":["c"]}]}""", "messages[0].tool_calls[0]", "invalid_value", "'id' and 'function.name'"],
        ["""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f"}}]}]}""", "messages[0].tool_calls[0]", "invalid_value", "'id' and 'function.name'"],
        ["""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{}}]}]}""", "messages[0].tool_calls[0]", "invalid_value", "'id' and 'function.name'"],
        ["""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":"f"}]}]}""", "messages[0].tool_calls[0]", "invalid_value", "'id' and 'function.name'"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f"}},{"id":1}]}]}""", "messages[1].tool_calls[1]", "invalid_value", "'messages[1].tool_calls[1]'"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"stream":"yes"}""", "stream", "invalid_type", "Invalid type for 'stream': expected a boolean, but got a string"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"stream":1}""", "stream", "invalid_type", "expected a boolean"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"temperature":2.5}""", "temperature", "invalid_value", "out of range"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"temperature":-0.1}""", "temperature", "invalid_value", "out of range"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"temperature":"1"}""", "temperature", "invalid_type", "expected a number"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"top_p":1.01}""", "top_p", "invalid_value", "between 0 and 1"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"top_p":true}""", "top_p", "invalid_type", "expected a number"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"presence_penalty":-2.01}""", "presence_penalty", "invalid_value", "between -2 and 2"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"frequency_penalty":3}""", "frequency_penalty", "invalid_value", "between -2 and 2"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":0}""", "max_tokens", "invalid_value", "at least 1"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":"10"}""", "max_tokens", "invalid_type", "expected an integer"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":1.5}""", "max_tokens", "invalid_type", "expected an integer"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":2147483648}""", "max_tokens", "invalid_type", "expected an integer"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"max_completion_tokens":-1}""", "max_completion_tokens", "invalid_value", "at least 1"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"n":0}""", "n", "invalid_value", "at least 1 and at most 128"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"n":129}""", "n", "invalid_value", "at most 128"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"seed":1.5}""", "seed", "invalid_type", "expected an integer"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"seed":"1"}""", "seed", "invalid_type", "expected an integer"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"seed":9223372036854775808}""", "seed", "invalid_type", "expected an integer"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"user":5}""", "user", "invalid_type", "expected a string"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"stop":7}""", "stop", "invalid_type", "a string or an array of strings"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"stop":["a",1]}""", "stop", "invalid_type", "a string or an array of strings"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"tools":{}}""", "tools", "invalid_type", "expected an array"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function"}]}""", "tools[0].function.name", "missing_required_parameter", "'tools[0].function.name'"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{}}]}""", "tools[0].function.name", "missing_required_parameter", "'tools[0].function.name'"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"function":{"name":"f"}},{"function":{"description":"d"}}]}""", "tools[1].function.name", "missing_required_parameter", "'tools[1].function.name'"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":5}""", "tool_choice", "invalid_type", "a string or an object"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":["auto"]}""", "tool_choice", "invalid_type", "a string or an object"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"parallel_tool_calls":"no"}""", "parallel_tool_calls", "invalid_type", "expected a boolean"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":"json_object"}""", "response_format", "invalid_type", "a string 'type'"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{}}""", "response_format", "invalid_type", "a string 'type'"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"stream_options":true}""", "stream_options", "invalid_type", "expected an object"],
        ["""{"model":"m","messages":[{"role":"user","content":"a"}],"stream_options":{"include_usage":"yes"}}""", "stream_options.include_usage", "invalid_type", "expected a boolean"],
    ];

    [TestCaseSource(nameof(BadBodies))]
    public void A_bad_body_is_a_400_naming_the_parameter(string body, string param, string code, string message)
    {
        var actual = AssertRefused(() => Read(body), param, code);

        Assert.That(actual, Does.Contain(message));
    }

    [Test]
    public void Tool_call_arguments_that_are_not_a_string_are_a_400()
    {
        AssertRefused(
            () => Read("""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"q":1}}}]}]}"""),
            "messages[0].tool_calls[0].function.arguments",
            "invalid_type");
    }

    [Test]
    public void An_empty_tool_calls_array_is_a_400()
    {
        AssertRefused(
            () => Read("""{"model":"m","messages":[{"role":"assistant","content":"x","tool_calls":[]}]}"""),
            "messages[0].tool_calls",
            "empty_array");
    }

    [Test]
    public void Tool_parameters_that_are_not_an_object_are_a_400()
    {
        AssertRefused(
            () => Read(With("""
                "tools": [{"type":"function","function":{"name":"f","parameters":"{\"type\":\"object\"}"}}]
                """)),
            "tools[0].function.parameters",
            "invalid_type");
    }
}
