using System.Net;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// The non-chat methods follow the chat methods' default rules: the async method the host calls falls back to
/// the synchronous override, and a family with no override answers 500 <c>Not implemented yet!</c>.
/// </summary>
public sealed class HandlerDefaultsTests
{
    private static readonly string Config = Yaml.Config(
        new Model("nothing", "TestHandlers:NoOverrides"),
        new Model("sync", "SurfaceHandlers:SyncOnly"));

    private static readonly Dictionary<string, (string Path, string Body)> Requests = new()
    {
        ["embeddings"] = ("/v1/embeddings", """{"model":"MODEL","input":"x"}"""),
        ["images"] = ("/v1/images/generations", """{"model":"MODEL","prompt":"x"}"""),
        ["rerank"] = ("/v1/rerank", """{"model":"MODEL","query":"x","documents":["a","b"]}"""),
        ["completions"] = ("/v1/completions", """{"model":"MODEL","prompt":"x"}"""),
        ["streamed completions"] = ("/v1/completions", """{"model":"MODEL","prompt":"x","stream":true}"""),
    };

    [TestCase("embeddings")]
    [TestCase("images")]
    [TestCase("rerank")]
    [TestCase("completions")]
    [TestCase("streamed completions")]
    [TestCase("image edits")]
    public async Task A_handler_without_the_method_answers_500_Not_implemented_yet(string endpoint)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "TestHandlers", "SurfaceHandlers");

        var response = await SendAsync(proxy, endpoint, "nothing");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.InternalServerError), response.Body);
        Assert.That(response.Error().Message, Is.EqualTo("Not implemented yet!"));
    }

    [TestCase("embeddings", "embedding")]
    [TestCase("images", "sync.png")]
    [TestCase("image edits", "sync-edit.png")]
    [TestCase("rerank", "relevance_score")]
    [TestCase("completions", "sync:x")]
    [TestCase("streamed completions", "sync:x")]
    public async Task The_async_method_falls_back_to_a_synchronous_override(string endpoint, string expected)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "TestHandlers", "SurfaceHandlers");

        var response = await SendAsync(proxy, endpoint, "sync");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        Assert.That(response.Body, Does.Contain(expected));
    }

    [Test]
    public async Task The_model_list_shows_models_of_every_mode()
    {
        const string Yaml = """
            model_list:
              - model_name: a-chat
                litellm_params: { model: s/chat }
              - model_name: an-embedding
                litellm_params: { model: s/embed }
                model_info: { mode: embedding }
              - model_name: an-image
                litellm_params: { model: s/image }
                model_info: { mode: image_generation }
              - model_name: a-reranker
                litellm_params: { model: s/rerank }
                model_info: { mode: rerank }
            litellm_settings:
              custom_provider_map:
                - { provider: s, custom_handler: "SurfaceHandlers:Everything" }
            general_settings:
              master_key: sk-1234
            """;
        await using var proxy = await TestProxy.StartAsync(Yaml, "SurfaceHandlers");

        var models = proxy.OpenAi().GetOpenAIModelClient().GetModels().Value;

        Assert.That(models.Select(m => m.Id), Is.EquivalentTo(new[] { "a-chat", "an-embedding", "an-image", "a-reranker" }));
    }

    private static async Task<RawResponse> SendAsync(TestProxy proxy, string endpoint, string model)
    {
        if (endpoint == "image edits")
        {
            using var form = RawHttp.Form([("model", model), ("prompt", "x")], ("image", "a.png", "A"));
            return await proxy.PostAsync("/v1/images/edits", form);
        }

        var (path, body) = Requests[endpoint];
        return await proxy.PostJsonAsync(path, body.Replace("MODEL", model, StringComparison.Ordinal));
    }
}
