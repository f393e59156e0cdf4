using System.Text.Json;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary><see cref="ChatResponseWriter"/>: <c>chat.completion</c> and <c>chat.completion.chunk</c> JSON from the SDK records, without a host.</summary>
public sealed class ChatResponseWriterTests
{
    private static readonly ResponseIdentity Identity = new("chatcmpl-host", 1_700_000_000, "asked-model");

    private static readonly ChatCompletionRequest Request = new() { Model = "provider-model", RequestedModel = "asked-model", Messages = [] };

    private static string Write(ModelResponse response) => UnitJson.Write(writer => ChatResponseWriter.WriteCompletion(writer, response, Identity));

    private static ModelResponse Choices(params Choice[] choices) => new() { Choices = choices };

    private static Choice Say(string text, int index = 0) => new() { Index = index, Message = new ResponseMessage { Content = text } };

    [Test]
    public void A_completion_is_written_in_OpenAIs_shape_with_every_field_the_handler_set()
    {
        var json = Write(new ModelResponse
        {
            Id = "chatcmpl-handler",
            Created = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000),
            Model = "handler-model",
            Choices =
            [
                new Choice
                {
                    Message = new ResponseMessage { Content = "Hello", ReasoningContent = "because", ProviderSpecificFields = Fields("""{"citations":[1]}""") },
                    FinishReason = FinishReason.Length,
                },
                new Choice
                {
                    Message = new ResponseMessage { ToolCalls = [new ToolCall { Id = "call_1", Function = new FunctionCall("lookup", """{"q":1}""") }] },
                },
            ],
            Usage = new Usage(3, 4),
            SystemFingerprint = "fp_1",
            AdditionalProperties = Fields("""{"service_tier":"default"}"""),
        });

        AssertJson(json, """
            {"id":"chatcmpl-handler","object":"chat.completion","created":1600000000,"model":"handler-model",
             "choices":[
               {"index":0,"message":{"role":"assistant","content":"Hello","refusal":null,"reasoning_content":"because","provider_specific_fields":{"citations":[1]}},
                "logprobs":null,"finish_reason":"length"},
               {"index":1,"message":{"role":"assistant","content":null,"refusal":null,
                                     "tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":1}"}}]},
                "logprobs":null,"finish_reason":"tool_calls"}],
             "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},
             "system_fingerprint":"fp_1","service_tier":"default"}
            """);
        Assert.That(Keys(Parse(json)), Is.EqualTo(new[] { "id", "object", "created", "model", "choices", "usage", "system_fingerprint", "service_tier" }));
    }

    [Test]
    public void What_the_handler_leaves_unset_comes_from_the_identity()
    {
        var root = Parse(Write(ModelResponse.FromText("hi")));

        AssertJson(root.GetRawText(), """
            {"id":"chatcmpl-host","object":"chat.completion","created":1700000000,"model":"asked-model",
             "choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop"}],
             "system_fingerprint":null}
            """);
    }

    [Test]
    public void The_endpoint_gives_each_completion_a_new_chatcmpl_id_the_current_time_and_the_requested_model()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var first = Parse(UnitJson.Write(writer => ChatCompletionsEndpoint.Write(writer, Request, new ChatAnswer(ModelResponse.FromText("a")))));
        var second = Parse(UnitJson.Write(writer => ChatCompletionsEndpoint.Write(writer, Request, new ChatAnswer(ModelResponse.FromText("b")))));
        var after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        Assert.Multiple(() =>
        {
            Assert.That(first.GetProperty("id").GetString(), Does.StartWith("chatcmpl-"));
            Assert.That(first.GetProperty("id").GetString(), Is.Not.EqualTo(second.GetProperty("id").GetString()));
            Assert.That(first.GetProperty("created").GetInt64(), Is.InRange(before, after));
            Assert.That(first.GetProperty("model").GetString(), Is.EqualTo("asked-model"));
        });
    }

    [Test]
    public void Response_identities_are_unique_and_carry_prefix_time_and_model()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var ids = Enumerable.Range(0, 1000).Select(_ => ResponseIdentity.Create("cmpl-", "m")).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(ids.Select(i => i.Id), Is.Unique);
            Assert.That(ids.Select(i => i.Id), Is.All.Match("^cmpl-[0-9a-f]{32}$"));
            Assert.That(ids.Select(i => i.Model), Is.All.EqualTo("m"));
            Assert.That(ids[0].Created, Is.InRange(before, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        });
    }

    // The finish_reason written for a choice: the handler's, else tool_calls when it called tools, else stop.
    [TestCase(null, false, "stop")]
    [TestCase(null, true, "tool_calls")]
    [TestCase("length", true, "length")]
    [TestCase("content_filter", false, "content_filter")]
    [TestCase("my_own_reason", false, "my_own_reason")]
    public void The_finish_reason_is_the_handlers_or_follows_from_the_message(string? reason, bool callsTools, string written)
    {
        var message = new ResponseMessage { Content = "x", ToolCalls = callsTools ? [new ToolCall { Id = "c", Function = new FunctionCall("f", "{}") }] : null };
        var choice = new Choice { Message = message, FinishReason = reason is null ? null : new FinishReason(reason) };

        Assert.That(Parse(Write(Choices(choice))).GetProperty("choices")[0].GetProperty("finish_reason").GetString(), Is.EqualTo(written));
    }

    [Test]
    public void An_empty_tool_call_list_is_left_out_and_finishes_with_stop()
    {
        var choice = Parse(Write(Choices(new Choice { Message = new ResponseMessage { Content = "x", ToolCalls = [] } }))).GetProperty("choices")[0];

        Assert.Multiple(() =>
        {
            Assert.That(choice.GetProperty("message").TryGetProperty("tool_calls", out _), Is.False);
            Assert.That(choice.GetProperty("finish_reason").GetString(), Is.EqualTo("stop"));
        });
    }

    [TestCase("assistant")]
    [TestCase("tool")]
    public void The_role_is_the_messages(string role)
    {
        var json = Write(Choices(new Choice { Message = new ResponseMessage { Role = new ChatRole(role), Content = "x" } }));

        Assert.That(Parse(json).GetProperty("choices")[0].GetProperty("message").GetProperty("role").GetString(), Is.EqualTo(role));
    }

    [Test]
    public void A_role_left_default_is_assistant()
    {
        var json = Write(Choices(new Choice { Message = new ResponseMessage { Role = default, Content = "x" } }));

        Assert.That(Parse(json).GetProperty("choices")[0].GetProperty("message").GetProperty("role").GetString(), Is.EqualTo("assistant"));
    }

    [Test]
    public void Text_is_written_as_it_is_without_html_escaping()
    {
        var json = Write(ModelResponse.FromText("it's <b>\"5 > 3\" & é 😀\n"));

        Assert.Multiple(() =>
        {
            Assert.That(json, Does.Contain("it's <b>\\\"5 > 3\\\" & é"));
            Assert.That(Parse(json).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), Is.EqualTo("it's <b>\"5 > 3\" & é 😀\n"));
        });
    }

    [TestCase(new[] { 0 }, new[] { 0 })]
    [TestCase(new[] { 0, 0, 0 }, new[] { 0, 1, 2 })]
    [TestCase(new[] { 0, 1, 2 }, new[] { 0, 1, 2 })]
    [TestCase(new[] { 3, 4 }, new[] { 3, 4 })]
    [TestCase(new[] { 1, 0 }, new[] { 1, 0 })]
    public void Choices_are_numbered_by_position_when_all_are_0_else_as_the_handler_numbered_them(int[] given, int[] written)
    {
        var json = Write(Choices([.. given.Select(i => Say("t", i))]));

        Assert.That(Parse(json).GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("index").GetInt32()), Is.EqualTo(written));
    }

    private static readonly object[][] MalformedAnswers =
    [
        [new ModelResponse { Choices = null! }, "ModelResponse.Choices is null."],
        [Choices(Say("ok"), null!), "ModelResponse.Choices[1] is null."],
        [Choices(Say("ok"), new Choice { Message = null! }), "ModelResponse.Choices[1].Message is null."],
        [Choices(new Choice { Message = new ResponseMessage { ToolCalls = [null!] } }), ""],
        [Choices(new Choice { Message = new ResponseMessage { ToolCalls = [new ToolCall { Id = "c", Function = null! }] } }), ""],
    ];

    [TestCaseSource(nameof(MalformedAnswers))]
    public void A_malformed_answer_throws_naming_what_it_can(ModelResponse response, string message)
    {
        Assert.That(AssertMalformed(writer => ChatResponseWriter.WriteCompletion(writer, response, Identity)), Does.Contain(message));
    }

    [Test]
    public void The_first_delta_of_a_choice_carries_the_role_and_the_chunk_the_identity()
    {
        var json = UnitJson.Write(writer => ChatResponseWriter.WriteDeltaChunk(writer, GenericStreamingChunk.FromText("Hel"), includeRole: true, new ToolCallIds(), Identity));

        AssertJson(json, """
            {"id":"chatcmpl-host","object":"chat.completion.chunk","created":1700000000,"model":"asked-model","system_fingerprint":null,
             "choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"logprobs":null,"finish_reason":null}]}
            """);
        Assert.That(Keys(Parse(json)), Is.EqualTo(new[] { "id", "object", "created", "model", "system_fingerprint", "choices" }));
    }

    // What a delta holds: role only on a choice's first, content when there is text (or an empty first delta), and the rest when set.
    [TestCase("", true, null, """{"role":"assistant","content":""}""")]
    [TestCase("lo", false, null, """{"content":"lo"}""")]
    [TestCase("", false, "hmm", """{"reasoning_content":"hmm"}""")]
    [TestCase("a", false, "b", """{"content":"a","reasoning_content":"b"}""")]
    [TestCase("", false, null, "{}")]
    public void A_delta_holds_only_what_the_chunk_adds(string text, bool includeRole, string? reasoning, string delta)
    {
        var chunk = new GenericStreamingChunk { Text = text, ReasoningContent = reasoning, Index = 2 };

        var choice = Parse(UnitJson.Write(writer => ChatResponseWriter.WriteDeltaChunk(writer, chunk, includeRole, new ToolCallIds(), Identity))).GetProperty("choices")[0];

        Assert.Multiple(() =>
        {
            AssertJson(choice.GetProperty("delta").GetRawText(), delta);
            Assert.That(choice.GetProperty("index").GetInt32(), Is.EqualTo(2));
        });
    }

    [Test]
    public void Provider_specific_fields_travel_in_the_delta()
    {
        var chunk = new GenericStreamingChunk { Text = "a", ProviderSpecificFields = Fields("""{"citations":["x"]}""") };

        var delta = Parse(UnitJson.Write(writer => ChatResponseWriter.WriteDeltaChunk(writer, chunk, false, new ToolCallIds(), Identity))).GetProperty("choices")[0].GetProperty("delta");

        AssertJson(delta.GetRawText(), """{"content":"a","provider_specific_fields":{"citations":["x"]}}""");
    }

    [Test]
    public void A_tool_calls_first_piece_announces_it_and_later_pieces_carry_only_arguments()
    {
        var ids = new ToolCallIds();
        string Piece(ToolUse use, bool role) => UnitJson.Write(writer => ChatResponseWriter.WriteDeltaChunk(writer, new GenericStreamingChunk { ToolUse = use }, role, ids, Identity));
        static JsonElement Delta(string json) => Parse(json).GetProperty("choices")[0].GetProperty("delta");

        var first = Delta(Piece(new ToolUse { Id = "call_1", Index = 0, Function = new ToolUseFunction("lookup", "{\"q\"") }, role: true));
        var later = Delta(Piece(new ToolUse { Index = 0, Function = new ToolUseFunction(null, ":1}") }, role: false));
        var generated = Delta(Piece(new ToolUse { Index = 1, Function = new ToolUseFunction(null, "") }, role: false));

        Assert.Multiple(() =>
        {
            AssertJson(first.GetRawText(), """
                {"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\""}}]}
                """);
            AssertJson(later.GetRawText(), """{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}""");
            var call = generated.GetProperty("tool_calls")[0];
            Assert.That(call.GetProperty("id").GetString(), Does.Match("^call_[0-9a-f]{24}$"), "an id is made up when the handler gives none");
            Assert.That(call.GetProperty("function").GetProperty("name").GetString(), Is.Empty, "a first piece without a name");
            Assert.That(call.GetProperty("index").GetInt32(), Is.EqualTo(1));
        });
    }

    [Test]
    public void A_finish_chunk_has_an_empty_delta_and_the_reason()
    {
        var json = UnitJson.Write(writer => ChatResponseWriter.WriteFinishChunk(writer, 1, FinishReason.Length, Identity));

        AssertJson(json, """
            {"id":"chatcmpl-host","object":"chat.completion.chunk","created":1700000000,"model":"asked-model","system_fingerprint":null,
             "choices":[{"index":1,"delta":{},"logprobs":null,"finish_reason":"length"}]}
            """);
    }

    [Test]
    public void A_usage_chunk_has_no_choices_and_the_usage()
    {
        var json = UnitJson.Write(writer => ChatResponseWriter.WriteUsageChunk(writer, new Usage(2, 5), Identity));

        AssertJson(json, """
            {"id":"chatcmpl-host","object":"chat.completion.chunk","created":1700000000,"model":"asked-model","system_fingerprint":null,
             "choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5,"total_tokens":7}}
            """);
    }
}
