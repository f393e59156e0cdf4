using System.Net;
using System.Text.Json;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary><c>GET /models</c> in OpenAI's list shape, and LiteLLM's health probes.</summary>
public sealed class ModelsAndHealthTests
{
    [TestCase("/models")]
    [TestCase("/v1/models")]
    public async Task The_models_list_has_each_configured_name_once_in_OpenAIs_shape(string path)
    {
        await using var proxy = await TestProxy.StartAsync(
            Yaml.Config(new Model("alpha", "TestHandlers:Scripted"), new Model("beta", "TestHandlers:CompletionOnly"), new Model("alpha", "TestHandlers:StreamingOnly")),
            "TestHandlers");

        using var response = await proxy.Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        using var json = JsonDocument.Parse(body);
        var data = json.RootElement.GetProperty("data").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("object").GetString(), Is.EqualTo("list"));
            Assert.That(data.Select(m => m.GetProperty("id").GetString()), Is.EqualTo(new[] { "alpha", "beta" }));
            Assert.That(data.Select(m => m.GetProperty("object").GetString()), Is.All.EqualTo("model"));
            Assert.That(data.Select(m => m.GetProperty("owned_by").GetString()), Is.EqualTo(new[] { "p0", "p1" }));
            Assert.That(data.Select(m => m.GetProperty("created").GetInt64()), Is.All.GreaterThan(1_700_000_000));
        });
    }

    [Test]
    public async Task The_OpenAI_SDK_lists_and_gets_models()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("alpha", "HiHandler"), new Model("beta", "HiHandler")), "HiHandler");
        var models = proxy.OpenAi().GetOpenAIModelClient();

        var list = (await models.GetModelsAsync()).Value;
        var alpha = (await models.GetModelAsync("alpha")).Value;

        Assert.Multiple(() =>
        {
            Assert.That(list.Select(m => m.Id), Is.EqualTo(new[] { "alpha", "beta" }));
            Assert.That(alpha.Id, Is.EqualTo("alpha"));
            Assert.That(alpha.OwnedBy, Is.EqualTo("p0"));
        });
    }

    [Test]
    public async Task An_unknown_model_id_is_a_404_with_an_OpenAI_error()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("alpha", "HiHandler")), "HiHandler");

        using var response = await proxy.Http.GetAsync("/v1/models/gamma");

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.NotFound);
        Assert.That(error.GetProperty("message").GetString(), Does.Contain("'gamma'"));
    }

    [Test]
    public async Task Several_deployments_of_one_model_name_share_the_requests()
    {
        await using var proxy = await TestProxy.StartAsync(
            Yaml.Config(new Model("pool", "TestHandlers:Scripted", ("deployment", "one")), new Model("pool", "TestHandlers:Scripted", ("deployment", "two"))),
            "TestHandlers");

        var seen = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            using var response = await proxy.PostAsync("/chat/completions", """{"model":"pool","messages":[{"role":"user","content":"who"}]}""");
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            using var received = JsonDocument.Parse(json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!);
            seen.Add(received.RootElement.GetProperty("litellm_params").GetProperty("deployment").GetString()!);
        }

        // simple-shuffle, LiteLLM's default: at random, equally when no deployment has a weight (20 each expected).
        Assert.That(seen.Count(d => d == "one"), Is.InRange(8, 32), string.Join(",", seen));
        Assert.That(seen.Distinct().Order(), Is.EqualTo(new[] { "one", "two" }));
    }

    [TestCase("/health/liveliness")]
    [TestCase("/health/liveness")]
    public async Task Liveliness_answers_Im_alive(string path)
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("alpha", "HiHandler")), "HiHandler");

        using var response = await proxy.Http.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("\"I'm alive!\""));
    }

    [Test]
    public async Task Readiness_is_healthy_when_every_model_has_a_loaded_handler()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("alpha", "HiHandler"), new Model("beta", "EchoHandler")), "HiHandler", "EchoHandler");

        using var response = await proxy.Http.GetAsync("/health/readiness");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(json.RootElement.GetProperty("status").GetString(), Is.EqualTo("healthy"));
            Assert.That(json.RootElement.GetProperty("models").GetInt32(), Is.EqualTo(2));
            Assert.That(json.RootElement.GetProperty("unavailable_models").EnumerateArray(), Is.Empty);
        });
    }

    [Test]
    public async Task A_plugin_that_cannot_load_makes_readiness_degraded_and_its_model_503_while_the_others_serve()
    {
        var plugins = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "broken-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(plugins);
        try
        {
            TestProxy.InstallPlugin(plugins, "HiHandler", "HiHandler");
            await File.WriteAllTextAsync(Path.Combine(plugins, "Broken.dll"), "this is not an assembly");
            await using var proxy = await TestProxy.StartAsync(
                Yaml.Config(new Model("good", "HiHandler"), new Model("bad", "Broken")),
                [],
                watch: false,
                "--plugins",
                plugins);

            using var readiness = await proxy.Http.GetAsync("/health/readiness");
            using var json = JsonDocument.Parse(await readiness.Content.ReadAsStringAsync());
            using var bad = await proxy.PostAsync("/chat/completions", """{"model":"bad","messages":[{"role":"user","content":"hi"}]}""");
            using var good = await proxy.PostAsync("/chat/completions", """{"model":"good","messages":[{"role":"user","content":"hi"}]}""");

            Assert.Multiple(() =>
            {
                Assert.That(json.RootElement.GetProperty("status").GetString(), Is.EqualTo("degraded"));
                Assert.That(json.RootElement.GetProperty("unavailable_models")[0].GetString(), Does.StartWith("bad: "));
                Assert.That(json.RootElement.GetProperty("failed_plugins")[0].GetString(), Does.StartWith("Broken: "));
                Assert.That(good.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            });
            var error = await OpenAiErrors.AssertErrorAsync(bad, HttpStatusCode.ServiceUnavailable);
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("Broken"));
        }
        finally
        {
            Directory.Delete(plugins, recursive: true);
        }
    }
}
