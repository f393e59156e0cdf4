using PluginHost.OpenAi;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary><see cref="RequestInput.ReadModel"/>: the body must be an object naming its model, read before any endpoint's reader.</summary>
public sealed class RequestInputTests
{
    [TestCase("""{"model":"gpt-4o"}""", "gpt-4o")]
    [TestCase("""{"messages":[],"model":"my-custom-llm/x"}""", "my-custom-llm/x")]
    [TestCase("""{"model":" spaced "}""", " spaced ")]
    [TestCase("""{"model":"caf\u00e9"}""", "café")]
    public void The_model_is_read_as_sent(string body, string model)
    {
        Assert.That(RequestInput.ReadModel(Parse(body)), Is.EqualTo(model));
    }

    [TestCase("[]", null, null, "The request body must be a JSON object, not an array.")]
    [TestCase("\"gpt-4o\"", null, null, "must be a JSON object, not a string.")]
    [TestCase("null", null, null, "must be a JSON object, not null.")]
    [TestCase("42", null, null, "must be a JSON object, not a number.")]
    [TestCase("true", null, null, "must be a JSON object, not a boolean.")]
    [TestCase("{}", "model", "missing_required_parameter", "you must provide a model parameter")]
    [TestCase("""{"model":null}""", "model", "missing_required_parameter", "you must provide a model parameter")]
    [TestCase("""{"model":42}""", "model", "invalid_type", "Invalid type for 'model': expected a non-empty string, but got a number.")]
    [TestCase("""{"model":""}""", "model", "invalid_type", "expected a non-empty string, but got a string.")]
    [TestCase("""{"model":["a"]}""", "model", "invalid_type", "but got an array.")]
    [TestCase("""{"model":{"name":"a"}}""", "model", "invalid_type", "but got an object.")]
    [TestCase("""{"Model":"a"}""", "model", "missing_required_parameter", "you must provide a model parameter")]
    public void A_body_without_a_model_is_a_400(string body, string? param, string? code, string message)
    {
        Assert.That(AssertRefused(() => RequestInput.ReadModel(Parse(body)), param, code), Does.Contain(message));
    }

    [Test]
    public void A_lone_surrogate_in_the_model_throws_what_the_pipeline_turns_into_a_400()
    {
        Assert.That(() => RequestInput.ReadModel(Parse("""{"model":"\udc00"}""")), Throws.InvalidOperationException);
    }
}
