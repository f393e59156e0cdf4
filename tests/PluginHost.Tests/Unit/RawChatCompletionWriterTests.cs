using System.Text;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary><see cref="RawChatCompletionWriter"/>: a handler's raw <c>chat.completion</c> bytes checked, given the client's model name and copied.</summary>
public sealed class RawChatCompletionWriterTests
{
    private static readonly ChatCompletionRequest Request = new() { Model = "provider-model", RequestedModel = "asked-model", Messages = [] };

    private static string Write(string upstream, ChatAnswer? answer = null)
    {
        answer ??= Answer(upstream);
        return UnitJson.Write(writer => ChatCompletionsEndpoint.Write(writer, Request, answer));
    }

    private static ChatAnswer Answer(string json) => Answer(Encoding.UTF8.GetBytes(json));

    private static ChatAnswer Answer(byte[] json) => new(new RawChatCompletion { Json = json });

    [Test]
    public void The_upstreams_answer_is_sent_as_it_is_with_the_client_model_and_its_usage_is_read()
    {
        const string Upstream = """{"id":"up-1","object":"chat.completion","created":5,"model":"real-model","service_tier":"default","choices":[{"index":0,"message":{"role":"assistant","content":"a \"quoted\" \u00e9","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1}},"system_fingerprint":"fp"}""";
        var answer = Answer(Upstream);

        var json = Write(Upstream, answer);

        Assert.That(json, Is.EqualTo(Upstream.Replace("\"real-model\"", "\"asked-model\"", StringComparison.Ordinal)), "only the model's bytes change");
        Assert.That(ChatCompletionsEndpoint.UsageOf(answer), Is.EqualTo(new Usage(5, 2)));
    }

    [Test]
    public void An_answer_without_a_model_gets_the_client_model_as_its_first_property()
    {
        var json = Write("""{ "choices":[]}""");

        AssertJson(json, """{"model":"asked-model","choices":[]}""");
        Assert.That(Keys(Parse(json))[0], Is.EqualTo("model"));
    }

    [Test]
    public void The_client_model_is_escaped_as_a_JSON_string()
    {
        var request = Request with { RequestedModel = "team/\"odd\"\\model" };

        var json = UnitJson.Write(writer => ChatCompletionsEndpoint.Write(writer, request, Answer("""{"model":"m","choices":[]}""")));

        Assert.That(Parse(json).GetProperty("model").GetString(), Is.EqualTo("team/\"odd\"\\model"));
    }

    [Test]
    public void Usage_is_null_when_the_answer_has_none_and_a_nested_model_or_usage_is_left_alone()
    {
        var answer = Answer("""{"choices":[{"message":{"model":"inner","usage":{"prompt_tokens":9}}}],"model":"outer"}""");

        var json = Write("", answer);

        Assert.That(ChatCompletionsEndpoint.UsageOf(answer), Is.Null);
        Assert.That(Parse(json).GetProperty("choices")[0].GetProperty("message").GetProperty("model").GetString(), Is.EqualTo("inner"));
        Assert.That(Parse(json).GetProperty("model").GetString(), Is.EqualTo("asked-model"));
    }

    [TestCase("not json", "not valid JSON")]
    [TestCase("""{"choices":[]} {"choices":[]}""", "not valid JSON")]
    [TestCase("""{"choices":[]""", "not valid JSON")]
    [TestCase("""[{"choices":[]}]""", "not a JSON object")]
    [TestCase("""{"id":"x"}""", "no \"choices\" array")]
    [TestCase("""{"choices":{}}""", "no \"choices\" array")]
    [TestCase("""{"model":7,"choices":[]}""", "\"model\" is not a string")]
    [TestCase("", "not valid JSON")]
    public void An_answer_that_is_not_a_chat_completion_object_is_refused_before_anything_is_written(string upstream, string problem)
    {
        var message = AssertMalformed(writer => ChatCompletionsEndpoint.Write(writer, Request, Answer(upstream)));

        Assert.That(message, Does.Contain(problem));
    }

    [Test]
    public void An_answer_that_is_not_UTF8_is_refused()
    {
        byte[] upstream = [.. "{\"choices\":[],\"x\":\""u8, 0xC3, 0x28, .. "\"}"u8];

        var message = AssertMalformed(writer => ChatCompletionsEndpoint.Write(writer, Request, Answer(upstream)));

        Assert.That(message, Does.Contain("UTF-8"));
    }
}
