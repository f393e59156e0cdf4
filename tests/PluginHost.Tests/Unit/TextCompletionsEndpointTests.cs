using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary><see cref="TextCompletionsEndpoint"/>'s reading of a <c>/completions</c> body and writing of a <c>text_completion</c>, without a host.</summary>
public sealed class TextCompletionsEndpointTests
{
    private static readonly TextCompletionRequest Request = new() { Model = "provider-model", RequestedModel = "asked-model", Prompt = ["p"] };

    private static readonly DateTimeOffset Created = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    private static TextCompletionRequest Read(string json, RequestLimits? limits = null) =>
        TextCompletionsEndpoint.Read(Parse(json), Target, limits ?? new RequestLimits());

    private static string Write(TextCompletionResponse response) =>
        UnitJson.Write(writer => TextCompletionsEndpoint.Write(writer, Request, response));

    [Test]
    public void Every_field_lands_in_the_request()
    {
        var request = Read("""
            {"model":"asked-model","prompt":["one","two"],"stream":true,"max_tokens":0,"temperature":1.5,"top_p":0.5,"n":2,
             "stop":"\n","suffix":"END","echo":true,"presence_penalty":1,"frequency_penalty":-1,"seed":-42,"user":"user-7",
             "stream_options":{"include_usage":true},"best_of":3,"logprobs":5}
            """);

        Assert.Multiple(() =>
        {
            Assert.That(request.Prompt, Is.EqualTo(new[] { "one", "two" }));
            Assert.That(request.Stream, Is.True);
            Assert.That(request.MaxTokens, Is.Zero, "0 is allowed here (with echo it returns the prompt alone)");
            Assert.That(request.Temperature, Is.EqualTo(1.5));
            Assert.That(request.TopP, Is.EqualTo(0.5));
            Assert.That(request.N, Is.EqualTo(2));
            Assert.That(request.Stop, Is.EqualTo(new[] { "\n" }));
            Assert.That(request.Suffix, Is.EqualTo("END"));
            Assert.That(request.Echo, Is.True);
            Assert.That(request.PresencePenalty, Is.EqualTo(1));
            Assert.That(request.FrequencyPenalty, Is.EqualTo(-1));
            Assert.That(request.Seed, Is.EqualTo(-42));
            Assert.That(request.User, Is.EqualTo("user-7"));
            Assert.That(request.StreamOptions?.IncludeUsage, Is.True);
            Assert.That(Raw(request.AdditionalProperties), Is.EqualTo(new Dictionary<string, string> { ["best_of"] = "3", ["logprobs"] = "5" }));
        });
    }

    [Test]
    public void Absent_fields_take_their_defaults_and_a_string_prompt_is_a_list_of_one()
    {
        var request = Read("""{"model":"asked-model","prompt":"once"}""");

        Assert.That(request, Is.EqualTo(new TextCompletionRequest
        {
            Model = "provider-model",
            RequestedModel = "asked-model",
            Deployment = Settings,
            AdditionalProperties = request.AdditionalProperties,
            Prompt = request.Prompt,
        }));
        Assert.That(request.Prompt, Is.EqualTo(new[] { "once" }));
    }

    [TestCase("stream")]
    [TestCase("max_tokens")]
    [TestCase("temperature")]
    [TestCase("top_p")]
    [TestCase("n")]
    [TestCase("stop")]
    [TestCase("suffix")]
    [TestCase("echo")]
    [TestCase("presence_penalty")]
    [TestCase("frequency_penalty")]
    [TestCase("seed")]
    [TestCase("user")]
    [TestCase("stream_options")]
    public void An_optional_field_sent_as_null_reads_as_absent(string field)
    {
        var request = Read($$"""{"model":"m","prompt":"p","{{field}}":null}""");

        Assert.That(request, Is.EqualTo(Read("""{"model":"m","prompt":"p"}""") with { Prompt = request.Prompt }));
    }

    [TestCase("\"\"", new[] { "" })]
    [TestCase("[\"a\",\"\"]", new[] { "a", "" })]
    [TestCase("[\"a\",\"b\",\"c\"]", new[] { "a", "b", "c" })]
    public void The_prompt_is_read_as_sent(string prompt, string[] expected)
    {
        Assert.That(Read($$"""{"model":"m","prompt":{{prompt}}}""", SmallLimits).Prompt, Is.EqualTo(expected));
    }

    private static readonly object[][] BadBodies =
    [
        ["""{"model":"m"}""", "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'."],
        ["""{"model":"m","prompt":null}""", "prompt", "invalid_type", "but got null"],
        ["""{"model":"m","prompt":5}""", "prompt", "invalid_type", "a string or an array of strings, but got a number"],
        ["""{"model":"m","prompt":{"text":"p"}}""", "prompt", "invalid_type", "but got an object"],
        ["""{"model":"m","prompt":[]}""", "prompt", "empty_array", "empty array"],
        ["""{"model":"m","prompt":[1,2]}""", "prompt", "unsupported_value", "token-id prompts are not supported"],
        ["""{"model":"m","prompt":[[1,2]]}""", "prompt", "unsupported_value", "token-id prompts are not supported"],
        ["""{"model":"m","prompt":["a",null]}""", "prompt", "invalid_type", "a string or an array of strings"],
        ["""{"model":"m","prompt":["a",{}]}""", "prompt", "invalid_type", "a string or an array of strings"],
        ["""{"model":"m","prompt":"p","stream":"yes"}""", "stream", "invalid_type", "expected a boolean"],
        ["""{"model":"m","prompt":"p","max_tokens":-1}""", "max_tokens", "invalid_value", "at least 0"],
        ["""{"model":"m","prompt":"p","max_tokens":"16"}""", "max_tokens", "invalid_type", "expected an integer"],
        ["""{"model":"m","prompt":"p","temperature":2.01}""", "temperature", "invalid_value", "between 0 and 2"],
        ["""{"model":"m","prompt":"p","top_p":-0.5}""", "top_p", "invalid_value", "between 0 and 1"],
        ["""{"model":"m","prompt":"p","n":0}""", "n", "invalid_value", "at least 1"],
        ["""{"model":"m","prompt":"p","n":129}""", "n", "invalid_value", "at most 128"],
        ["""{"model":"m","prompt":"p","stop":[1]}""", "stop", "invalid_type", "a string or an array of strings"],
        ["""{"model":"m","prompt":"p","stop":{}}""", "stop", "invalid_type", "a string or an array of strings"],
        ["""{"model":"m","prompt":"p","suffix":5}""", "suffix", "invalid_type", "expected a string"],
        ["""{"model":"m","prompt":"p","echo":"yes"}""", "echo", "invalid_type", "expected a boolean"],
        ["""{"model":"m","prompt":"p","presence_penalty":2.5}""", "presence_penalty", "invalid_value", "between -2 and 2"],
        ["""{"model":"m","prompt":"p","frequency_penalty":-3}""", "frequency_penalty", "invalid_value", "between -2 and 2"],
        ["""{"model":"m","prompt":"p","seed":1.5}""", "seed", "invalid_type", "expected an integer"],
        ["""{"model":"m","prompt":"p","user":[]}""", "user", "invalid_type", "expected a string"],
        ["""{"model":"m","prompt":"p","stream_options":1}""", "stream_options", "invalid_type", "expected an object"],
        ["""{"model":"m","prompt":"p","stream_options":{"include_usage":1}}""", "stream_options.include_usage", "invalid_type", "expected a boolean"],
        ["""{"model":"m","prompt":["a","b","c","d"]}""", "prompt", "invalid_value", "4 prompts is more than this proxy allows (3; general_settings.max_completion_prompts)"],
    ];

    [TestCaseSource(nameof(BadBodies))]
    public void A_bad_body_is_a_400_naming_the_parameter(string body, string param, string code, string message)
    {
        var actual = AssertRefused(() => Read(body, SmallLimits), param, code);

        Assert.That(actual, Does.Contain(message));
    }

    [Test]
    public void A_response_is_written_in_OpenAIs_text_completion_shape_with_every_field_the_handler_set()
    {
        var json = Write(new TextCompletionResponse
        {
            Id = "cmpl-handler",
            Created = Created,
            Model = "handler-model",
            Choices = [new TextChoice { Text = "a", FinishReason = FinishReason.Length }, new TextChoice { Text = "b" }],
            Usage = new Usage(3, 4),
            SystemFingerprint = "fp_1",
            AdditionalProperties = Fields("""{"x_extra":{"k":[1]}}"""),
        });

        AssertJson(json, """
            {"id":"cmpl-handler","object":"text_completion","created":1700000000,"model":"handler-model",
             "choices":[{"text":"a","index":0,"logprobs":null,"finish_reason":"length"},
                        {"text":"b","index":1,"logprobs":null,"finish_reason":"stop"}],
             "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},
             "system_fingerprint":"fp_1","x_extra":{"k":[1]}}
            """);
        Assert.That(Keys(Parse(json)), Is.EqualTo(new[] { "id", "object", "created", "model", "choices", "usage", "system_fingerprint", "x_extra" }));
    }

    [Test]
    public void What_the_handler_leaves_unset_the_host_fills_in()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var first = Parse(Write(TextCompletionResponse.FromText("x")));
        var second = Parse(Write(TextCompletionResponse.FromText("x")));
        var after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        Assert.Multiple(() =>
        {
            Assert.That(first.GetProperty("id").GetString(), Does.StartWith("cmpl-"));
            Assert.That(first.GetProperty("id").GetString(), Is.Not.EqualTo(second.GetProperty("id").GetString()));
            Assert.That(first.GetProperty("created").GetInt64(), Is.InRange(before, after));
            Assert.That(first.GetProperty("model").GetString(), Is.EqualTo("asked-model"), "the model the client asked for");
            Assert.That(first.TryGetProperty("usage", out _), Is.False, "no usage when the handler gave none");
            Assert.That(first.GetProperty("system_fingerprint").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
    }

    [TestCase(new[] { 0 }, new[] { 0 })]
    [TestCase(new[] { 0, 0, 0 }, new[] { 0, 1, 2 })]
    [TestCase(new[] { 0, 1, 2 }, new[] { 0, 1, 2 })]
    [TestCase(new[] { 3, 4 }, new[] { 3, 4 })]
    [TestCase(new[] { 1, 0 }, new[] { 1, 0 })]
    public void Choices_are_numbered_by_position_when_all_are_0_else_as_the_handler_numbered_them(int[] given, int[] written)
    {
        var json = Write(new TextCompletionResponse { Choices = [.. given.Select(i => new TextChoice { Index = i, Text = "t" })] });

        Assert.That(Parse(json).GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("index").GetInt32()), Is.EqualTo(written));
    }

    [Test]
    public void No_choices_is_an_empty_list()
    {
        Assert.That(Parse(Write(new TextCompletionResponse { Choices = [] })).GetProperty("choices").GetArrayLength(), Is.Zero);
    }

    private static readonly object[][] MalformedAnswers =
    [
        [new TextCompletionResponse { Choices = null! }, "TextCompletionResponse.Choices is null."],
        [new TextCompletionResponse { Choices = [new TextChoice { Text = "ok" }, null!] }, "TextCompletionResponse.Choices[1] is null."],
    ];

    [TestCaseSource(nameof(MalformedAnswers))]
    public void A_malformed_answer_throws_naming_what_is_wrong(TextCompletionResponse response, string message)
    {
        Assert.That(AssertMalformed(writer => TextCompletionsEndpoint.Write(writer, Request, response)), Is.EqualTo(message));
    }

    [Test]
    public void A_choice_without_text_is_a_malformed_answer()
    {
        AssertMalformed(writer => TextCompletionsEndpoint.Write(writer, Request, new TextCompletionResponse { Choices = [new TextChoice { Text = null! }] }));
    }
}
