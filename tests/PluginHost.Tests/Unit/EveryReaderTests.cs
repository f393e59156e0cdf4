using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary>
/// What every JSON reader owes the handler, checked on each of them: the <see cref="LlmRequest"/> base members
/// from the deployment, unknown fields kept exactly, and text that is not text left for the pipeline's 400.
/// </summary>
public sealed class EveryReaderTests
{
    /// <summary>Each JSON endpoint's reader with its required fields; <c>{0}</c> is the main string field's JSON text.</summary>
    private static readonly Dictionary<string, (string Body, Func<JsonElement, RequestLimits, LlmRequest> Read)> Readers = new()
    {
        ["chat"] = ("""{{"model":"m","messages":[{{"role":"user","content":"{0}"}}]{1}}}""", (root, _) => ChatRequestReader.Read(root, Target)),
        ["completions"] = ("""{{"model":"m","prompt":"{0}"{1}}}""", (root, limits) => TextCompletionsEndpoint.Read(root, Target, limits)),
        ["embeddings"] = ("""{{"model":"m","input":"{0}"{1}}}""", (root, limits) => EmbeddingsEndpoint.Read(root, Target, limits)),
        ["images"] = ("""{{"model":"m","prompt":"{0}"{1}}}""", (root, limits) => ImageGenerationsEndpoint.Read(root, Target, limits)),
        ["rerank"] = ("""{{"model":"m","query":"{0}","documents":["doc"]{1}}}""", (root, limits) => RerankEndpoint.Read(root, Target, limits)),
        ["responses"] = ("""{{"model":"m","input":"{0}"{1}}}""", (root, limits) => ResponsesEndpoint.Read(root, Target, limits)),
        ["messages"] = ("""{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":"{0}"}}]{1}}}""", (root, limits) => PluginHost.Anthropic.MessagesEndpoint.Read(root, Target, limits)),
    };

    public static readonly string[] Endpoints = [.. Readers.Keys];

    /// <summary>Reads the endpoint's minimal body with main text <paramref name="text"/> and <paramref name="fields"/> (JSON members, each led by a comma).</summary>
    private static LlmRequest Read(string endpoint, string text = "hi", string fields = "")
    {
        var (body, read) = Readers[endpoint];
        return read(Parse(string.Format(System.Globalization.CultureInfo.InvariantCulture, body, text, fields)), new RequestLimits());
    }

    [TestCaseSource(nameof(Endpoints))]
    public void The_base_members_come_from_the_target_deployment(string endpoint)
    {
        var request = Read(endpoint);

        Assert.Multiple(() =>
        {
            Assert.That(request.Model, Is.EqualTo("provider-model"), "the provider's model, prefix stripped, not the body's model");
            Assert.That(request.RequestedModel, Is.EqualTo("asked-model"), "the target's requested model");
            Assert.That(request.Deployment, Is.SameAs(Settings), "the deployment's one Settings instance");
        });
    }

    [TestCaseSource(nameof(Endpoints))]
    public void Unknown_fields_are_kept_exactly_as_sent_and_model_is_not_one_of_them(string endpoint)
    {
        var request = Read(endpoint, fields: """
            ,"x_number": 1.50E+2, "x_text": "caf\u00e9 \"q\"", "x_null": null, "x_list": [true, {"deep": [1]}],
            "x_object": { "a" : 1 }, "caf\u00e9": 0
            """);

        Assert.That(Raw(request.AdditionalProperties), Is.EqualTo(new Dictionary<string, string>
        {
            ["x_number"] = "1.50E+2",
            ["x_text"] = "\"caf\\u00e9 \\\"q\\\"\"",
            ["x_null"] = "null",
            ["x_list"] = """[true, {"deep": [1]}]""",
            ["x_object"] = """{ "a" : 1 }""",
            ["café"] = "0",
        }));
    }

    [TestCaseSource(nameof(Endpoints))]
    public void Without_unknown_fields_AdditionalProperties_is_empty(string endpoint)
    {
        Assert.That(Read(endpoint).AdditionalProperties, Is.Empty);
    }

    [TestCaseSource(nameof(Endpoints))]
    public void What_the_request_keeps_of_the_body_outlives_the_body(string endpoint)
    {
        var (body, read) = Readers[endpoint];
        LlmRequest request;
        using (var document = JsonDocument.Parse(string.Format(System.Globalization.CultureInfo.InvariantCulture, body, "hi", ""","x_kept":{"a":[1,2]}""")))
        {
            request = read(document.RootElement, new RequestLimits());
        }

        Assert.That(request.AdditionalProperties["x_kept"].GetRawText(), Is.EqualTo("""{"a":[1,2]}"""));
    }

    [TestCaseSource(nameof(Endpoints))]
    public void A_lone_surrogate_in_the_main_text_throws_what_the_pipeline_turns_into_a_400(string endpoint)
    {
        // RequestPipeline maps an InvalidOperationException from a JSON reader to RequestFields.InvalidText: 400 invalid_json.
        Assert.That(() => Read(endpoint, text: "\\ud800"), Throws.InvalidOperationException);
    }

    [TestCaseSource(nameof(Endpoints))]
    public void A_lone_surrogate_in_a_field_name_throws_what_the_pipeline_turns_into_a_400(string endpoint)
    {
        Assert.That(() => Read(endpoint, fields: ""","\udc00x":1"""), Throws.InvalidOperationException);
    }

    [Test]
    public void The_pipelines_400_for_text_that_is_not_text_says_so()
    {
        var error = RequestFields.InvalidText(new InvalidOperationException("Cannot transcode invalid UTF-16 string to UTF-8 JSON text."));

        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400));
            Assert.That(error.Code, Is.EqualTo("invalid_json"));
            Assert.That(error.Param, Is.Null);
            Assert.That(error.Message, Does.Contain("not valid Unicode text"));
        });
    }

    [TestCase("chat", "temperature", "1e400")]
    [TestCase("chat", "top_p", "-1e400")]
    [TestCase("completions", "temperature", "1e400")]
    [TestCase("completions", "frequency_penalty", "-1e400")]
    public void A_number_beyond_the_range_of_a_double_is_out_of_range_not_a_500(string endpoint, string field, string number)
    {
        AssertRefused(() => Read(endpoint, fields: $",\"{field}\": {number}"), field, "invalid_value");
    }
}
