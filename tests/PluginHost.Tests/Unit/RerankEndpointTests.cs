using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary><see cref="RerankEndpoint"/>'s reading of a <c>/rerank</c> body and its ranking, trimming and writing of the answer, without a host.</summary>
public sealed class RerankEndpointTests
{
    private const string Documents = """["red apple",{"text":"green pear","id":"doc-1"},"blue plum"]""";

    private static RerankRequest Read(string json, RequestLimits? limits = null) =>
        RerankEndpoint.Read(Parse(json), Target, limits ?? new RequestLimits());

    /// <summary>A request over <see cref="Documents"/> with <paramref name="fields"/> (JSON members, each led by a comma).</summary>
    private static RerankRequest RequestWith(string fields = "") => Read($$"""{"model":"m","query":"fruit","documents":{{Documents}}{{fields}}}""");

    private static string Write(RerankRequest request, RerankResponse response) => UnitJson.Write(writer => RerankEndpoint.Write(writer, request, response));

    private static RerankResponse Scores(params double[] scores) => new() { Results = [.. scores.Select((score, index) => new RerankResult(index, score))] };

    private static int[] Order(string json) => [.. Parse(json).GetProperty("results").EnumerateArray().Select(r => r.GetProperty("index").GetInt32())];

    [Test]
    public void Every_field_lands_in_the_request()
    {
        var request = Read("""
            {"model":"asked-model","query":"fruit","documents":["red apple",{"text":"green pear","id":"doc-1"},{"title":"no text"},{"text":7}],
             "top_n":2,"return_documents":false,"rank_fields":["title","text"],"max_chunks_per_doc":5,"x_extra":{"a":1}}
            """);

        Assert.Multiple(() =>
        {
            Assert.That(request.Query, Is.EqualTo("fruit"));
            Assert.That(request.Documents.Select(d => d.Text), Is.EqualTo(new[] { "red apple", "green pear", null, null }));
            Assert.That(request.Documents.Select(d => d.Raw.GetRawText()), Is.EqualTo(new[] { "\"red apple\"", """{"text":"green pear","id":"doc-1"}""", """{"title":"no text"}""", """{"text":7}""" }));
            Assert.That(request.TopN, Is.EqualTo(2));
            Assert.That(request.ReturnDocuments, Is.False);
            Assert.That(request.RankFields, Is.EqualTo(new[] { "title", "text" }));
            Assert.That(request.MaxChunksPerDoc, Is.EqualTo(5));
            Assert.That(Raw(request.AdditionalProperties), Is.EqualTo(new Dictionary<string, string> { ["x_extra"] = """{"a":1}""" }));
        });
    }

    [Test]
    public void Absent_fields_take_their_defaults()
    {
        var request = RequestWith();

        Assert.Multiple(() =>
        {
            Assert.That(request.TopN, Is.Null);
            Assert.That(request.ReturnDocuments, Is.True, "LiteLLM's default");
            Assert.That(request.RankFields, Is.Null);
            Assert.That(request.MaxChunksPerDoc, Is.Null);
            Assert.That(request.AdditionalProperties, Is.Empty);
        });
    }

    [TestCase("top_n")]
    [TestCase("return_documents")]
    [TestCase("rank_fields")]
    [TestCase("max_chunks_per_doc")]
    public void An_optional_field_sent_as_null_reads_as_absent(string field)
    {
        var request = RequestWith($",\"{field}\":null");

        Assert.That(request, Is.EqualTo(RequestWith() with { Documents = request.Documents }));
    }

    [Test]
    public void Rank_fields_sent_as_a_string_are_a_list_of_one()
    {
        Assert.That(RequestWith(""","rank_fields":"title" """).RankFields, Is.EqualTo(new[] { "title" }));
    }

    private static readonly object[][] BadBodies =
    [
        ["""{"model":"m","documents":["a"]}""", "query", "missing_required_parameter", "Missing required parameter: 'query'."],
        ["""{"model":"m","query":null,"documents":["a"]}""", "query", "missing_required_parameter", "Missing required parameter: 'query'."],
        ["""{"model":"m","query":7,"documents":["a"]}""", "query", "invalid_type", "expected a non-empty string, but got a number"],
        ["""{"model":"m","query":"","documents":["a"]}""", "query", "empty_string", "Invalid 'query': empty string."],
        ["""{"model":"m","query":"q"}""", "documents", "missing_required_parameter", "Missing required parameter: 'documents'."],
        ["""{"model":"m","query":"q","documents":null}""", "documents", "invalid_type", "expected an array of strings or objects, but got null"],
        ["""{"model":"m","query":"q","documents":"a"}""", "documents", "invalid_type", "but got a string"],
        ["""{"model":"m","query":"q","documents":{"text":"a"}}""", "documents", "invalid_type", "but got an object"],
        ["""{"model":"m","query":"q","documents":[]}""", "documents", "empty_array", "Invalid 'documents': empty array."],
        ["""{"model":"m","query":"q","documents":["a",1]}""", "documents[1]", "invalid_type", "Invalid type for 'documents[1]': expected a string or an object, but got a number"],
        ["""{"model":"m","query":"q","documents":["a",null]}""", "documents[1]", "invalid_type", "but got null"],
        ["""{"model":"m","query":"q","documents":[["a"]]}""", "documents[0]", "invalid_type", "but got an array"],
        ["""{"model":"m","query":"q","documents":["a","b","c","d"]}""", "documents", "invalid_value", "4 documents is more than this proxy allows (3; general_settings.max_rerank_documents)"],
        ["""{"model":"m","query":"q","documents":["a"],"top_n":0}""", "top_n", "invalid_value", "at least 1"],
        ["""{"model":"m","query":"q","documents":["a"],"top_n":"1"}""", "top_n", "invalid_type", "expected an integer"],
        ["""{"model":"m","query":"q","documents":["a"],"return_documents":"yes"}""", "return_documents", "invalid_type", "expected a boolean"],
        ["""{"model":"m","query":"q","documents":["a"],"rank_fields":5}""", "rank_fields", "invalid_type", "a string or an array of strings"],
        ["""{"model":"m","query":"q","documents":["a"],"rank_fields":[1]}""", "rank_fields", "invalid_type", "a string or an array of strings"],
        ["""{"model":"m","query":"q","documents":["a"],"max_chunks_per_doc":0}""", "max_chunks_per_doc", "invalid_value", "at least 1"],
        ["""{"model":"m","query":"q","documents":["a"],"max_chunks_per_doc":"x"}""", "max_chunks_per_doc", "invalid_type", "expected an integer"],
    ];

    [TestCaseSource(nameof(BadBodies))]
    public void A_bad_body_is_a_400_naming_the_parameter(string body, string param, string code, string message)
    {
        var actual = AssertRefused(() => Read(body, SmallLimits), param, code);

        Assert.That(actual, Does.Contain(message));
    }

    [Test]
    public void As_many_documents_as_the_limit_are_accepted()
    {
        Assert.That(() => Read("""{"model":"m","query":"q","documents":["a","b","c"]}""", SmallLimits), Throws.Nothing);
    }

    [Test]
    public void Results_are_written_most_relevant_first_with_their_documents_meta_and_extra_fields()
    {
        var json = Write(RequestWith(), new RerankResponse
        {
            Id = "rerank-1",
            Results = [new RerankResult(0, 0.25), new RerankResult(1, 0.9), new RerankResult(2, 0.25)],
            Meta = Fields("""{"billed_units":{"search_units":1}}"""),
            AdditionalProperties = Fields("""{"x_extra":1}"""),
        });

        AssertJson(json, """
            {"id":"rerank-1",
             "results":[{"index":1,"relevance_score":0.9,"document":{"text":"green pear","id":"doc-1"}},
                        {"index":0,"relevance_score":0.25,"document":{"text":"red apple"}},
                        {"index":2,"relevance_score":0.25,"document":{"text":"blue plum"}}],
             "meta":{"billed_units":{"search_units":1}},"x_extra":1}
            """);
    }

    // Scores for documents 0, 1, 2; top_n; the indices written, most relevant first (ties by document order).
    [TestCase(new[] { 0.1, 0.2, 0.3 }, null, new[] { 2, 1, 0 })]
    [TestCase(new[] { 0.5, 0.5, 0.5 }, null, new[] { 0, 1, 2 })]
    [TestCase(new[] { -1.0, 0.0, -0.5 }, null, new[] { 1, 2, 0 })]
    [TestCase(new[] { 0.1, 0.2, 0.3 }, 1, new[] { 2 })]
    [TestCase(new[] { 0.1, 0.2, 0.3 }, 2, new[] { 2, 1 })]
    [TestCase(new[] { 0.1, 0.2, 0.3 }, 3, new[] { 2, 1, 0 })]
    [TestCase(new[] { 0.1, 0.2, 0.3 }, 10, new[] { 2, 1, 0 })]
    public void Results_are_ordered_by_score_and_trimmed_to_top_n(double[] scores, int? topN, int[] order)
    {
        var request = RequestWith() with { TopN = topN };

        Assert.That(Order(Write(request, Scores(scores))), Is.EqualTo(order));
    }

    [Test]
    public void The_handler_may_score_only_some_documents_in_any_order()
    {
        Assert.That(Order(Write(RequestWith(), new RerankResponse { Results = [new RerankResult(2, 0.1), new RerankResult(0, 0.7)] })), Is.EqualTo(new[] { 0, 2 }));
    }

    [Test]
    public void Without_return_documents_no_result_has_a_document()
    {
        var json = Write(RequestWith(""","return_documents":false"""), Scores(0.1, 0.2, 0.3));

        Assert.That(Parse(json).GetProperty("results").EnumerateArray().Select(r => Keys(r)), Is.All.EqualTo(new[] { "index", "relevance_score" }));
    }

    [Test]
    public void What_the_handler_leaves_unset_is_generated_or_left_out()
    {
        var root = Parse(Write(RequestWith(), Scores(0.1, 0.2, 0.3)));

        Assert.Multiple(() =>
        {
            Assert.That(Guid.TryParse(root.GetProperty("id").GetString(), out _), Is.True, "a generated id");
            Assert.That(Keys(root), Is.EqualTo(new[] { "id", "results" }), "no meta, no extra fields");
        });
    }

    [Test]
    public void Scores_are_written_exactly()
    {
        double[] scores = [0.1, 1.0 / 3, 5e-324];

        var written = Parse(Write(RequestWith(), Scores(scores))).GetProperty("results").EnumerateArray()
            .Select(r => (r.GetProperty("index").GetInt32(), r.GetProperty("relevance_score").GetDouble()));

        Assert.That(written, Is.EquivalentTo(scores.Select((s, i) => (i, s))));
    }

    private static readonly object[][] MalformedAnswers =
    [
        [new RerankResponse { Results = null! }, "RerankResponse.Results is null."],
        [new RerankResponse { Results = [new RerankResult(0, 1), null!] }, "RerankResponse.Results[1] is null."],
        [new RerankResponse { Results = [new RerankResult(-1, 1)] }, "a result refers to document -1, but the request has 3 documents."],
        [new RerankResponse { Results = [new RerankResult(3, 1)] }, "a result refers to document 3, but the request has 3 documents."],
        [new RerankResponse { Results = [new RerankResult(1, double.NaN)] }, "document 1 has the score NaN, which JSON cannot carry."],
        [new RerankResponse { Results = [new RerankResult(0, 1), new RerankResult(2, double.PositiveInfinity)] }, "which JSON cannot carry"],
        [new RerankResponse { Results = [new RerankResult(0, double.NegativeInfinity)] }, "which JSON cannot carry"],
    ];

    [TestCaseSource(nameof(MalformedAnswers))]
    public void A_malformed_answer_throws_naming_what_is_wrong(RerankResponse response, string message)
    {
        Assert.That(AssertMalformed(writer => RerankEndpoint.Write(writer, RequestWith(), response)), Does.Contain(message));
    }

    [Test]
    public void A_result_out_of_range_is_malformed_even_when_top_n_would_trim_it()
    {
        var request = RequestWith(""","top_n":1""");

        AssertMalformed(writer => RerankEndpoint.Write(writer, request, new RerankResponse { Results = [new RerankResult(0, 0.9), new RerankResult(7, 0.1)] }));
    }

    [Test]
    public void Two_results_for_one_document_are_a_malformed_answer()
    {
        AssertMalformed(writer => RerankEndpoint.Write(writer, RequestWith(), new RerankResponse { Results = [new RerankResult(0, 0.9), new RerankResult(0, 0.1)] }));
    }
}
