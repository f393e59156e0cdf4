using System.Net;
using System.Text.Json;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary><c>POST /rerank</c>, Cohere's shape as LiteLLM serves it, through the real host.</summary>
public sealed class RerankTests
{
    private static readonly string Config = Yaml.Config(new Model("ranker", "SurfaceHandlers:Everything"));

    // The test handler scores each document by the share of its words found in the query, in document order:
    // 0 → 0, 1 → 1, 2 → 0.5, 3 → 0.5. The host must sort (ties by index) and trim.
    private const string Documents = """["green banana", "red apple", "red car", {"text": "apple pie", "id": "doc-3"}]""";

    [TestCase("/rerank")]
    [TestCase("/v1/rerank")]
    public async Task Results_come_most_relevant_first_trimmed_to_top_n_with_their_documents(string path)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync(path, $$"""{"model":"ranker","query":"red apple","documents":{{Documents}},"top_n":3}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var results = response.Json.GetProperty("results").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.GetProperty("index").GetInt32()), Is.EqualTo(new[] { 1, 2, 3 }));
            Assert.That(results.Select(r => r.GetProperty("relevance_score").GetDouble()), Is.EqualTo(new[] { 1, 0.5, 0.5 }));
            Assert.That(results[0].GetProperty("document").GetProperty("text").GetString(), Is.EqualTo("red apple"));
            Assert.That(results[2].GetProperty("document").GetProperty("id").GetString(), Is.EqualTo("doc-3"), "object documents come back as sent");
            Assert.That(response.Json.GetProperty("id").GetString(), Is.Not.Empty);
            Assert.That(response.Json.GetProperty("meta").GetProperty("billed_units").GetProperty("search_units").GetInt32(), Is.EqualTo(1));
            Assert.That(response.Json.GetProperty("received").GetProperty("top_n").GetInt32(), Is.EqualTo(3));
        });
    }

    [Test]
    public async Task Without_top_n_every_document_is_ranked_and_return_documents_false_leaves_them_out()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/rerank", $$"""{"model":"ranker","query":"red apple","documents":{{Documents}},"return_documents":false,"rank_fields":["text"]}""");

        var results = response.Json.GetProperty("results").EnumerateArray().ToList();
        Assert.That(results.Select(r => r.GetProperty("index").GetInt32()), Is.EqualTo(new[] { 1, 2, 3, 0 }));
        Assert.That(results.Any(r => r.TryGetProperty("document", out _)), Is.False);
        Assert.That(response.Json.GetProperty("received").GetProperty("return_documents").GetBoolean(), Is.False);
    }

    [TestCase("""{"model":"ranker","documents":["a"]}""", "query", "missing_required_parameter")]
    [TestCase("""{"model":"ranker","query":"q"}""", "documents", "missing_required_parameter")]
    [TestCase("""{"model":"ranker","query":"q","documents":[]}""", "documents", "empty_array")]
    [TestCase("""{"model":"ranker","query":"q","documents":"a"}""", "documents", "invalid_type")]
    [TestCase("""{"model":"ranker","query":"q","documents":["a",1]}""", "documents[1]", "invalid_type")]
    [TestCase("""{"model":"ranker","query":"q","documents":["a"],"top_n":0}""", "top_n", "invalid_value")]
    [TestCase("""{"model":"ranker","query":"q","documents":["a"],"return_documents":"yes"}""", "return_documents", "invalid_type")]
    [TestCase("""{"model":"ranker","query":7,"documents":["a"]}""", "query", "invalid_type")]
    public async Task Bad_input_is_a_400_naming_the_parameter(string body, string param, string code)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/rerank", body);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        var (_, actualParam, actualCode) = response.Error();
        Assert.That((actualParam, actualCode), Is.EqualTo((param, code)));
    }

    [Test]
    public async Task A_handler_status_code_reaches_the_client()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/rerank", """{"model":"ranker","query":"fail:503","documents":["a"]}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(response.Error().Message, Is.EqualTo("scripted failure 503"));
    }
}
