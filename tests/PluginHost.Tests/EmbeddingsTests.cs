using System.Net;
using System.Text.Json;
using OpenAI.Embeddings;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary><c>POST /embeddings</c> through the real host and a real handler.</summary>
public sealed class EmbeddingsTests
{
    private static readonly string Config = Yaml.Config(new Model("embed", "SurfaceHandlers:Everything"));

    /// <summary>What the test handler returns for input <paramref name="input"/>: element d is (input+1)·0.1 + d/3.</summary>
    private static float[] Expected(int input, int dimensions) =>
        [.. Enumerable.Range(0, dimensions).Select(d => ((input + 1) * 0.1f) + (d / 3f))];

    [Test]
    public async Task The_OpenAI_SDK_gets_one_vector_per_input_in_order()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var result = (await proxy.OpenAi().GetEmbeddingClient("embed").GenerateEmbeddingsAsync(["one two", "three"], new EmbeddingGenerationOptions { Dimensions = 5 })).Value;

        Assert.That(result, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(result[0].Index, Is.Zero);
            Assert.That(result[1].Index, Is.EqualTo(1));
            Assert.That(result[0].ToFloats().ToArray(), Is.EqualTo(Expected(0, 5)));
            Assert.That(result[1].ToFloats().ToArray(), Is.EqualTo(Expected(1, 5)));
            Assert.That(result.Usage.InputTokenCount, Is.EqualTo(3));
            Assert.That(result.Model, Is.EqualTo("embed"));
        });
    }

    [Test]
    public async Task Float_embeddings_have_OpenAIs_list_shape_and_the_handler_sees_the_request()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/embeddings", """{"model":"embed","input":"hello there world","user":"u-1","encoding_format":"float","custom":{"a":1}}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var root = response.Json;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("object").GetString(), Is.EqualTo("list"));
            Assert.That(root.GetProperty("model").GetString(), Is.EqualTo("embed"));
            var item = root.GetProperty("data")[0];
            Assert.That(item.GetProperty("object").GetString(), Is.EqualTo("embedding"));
            Assert.That(item.GetProperty("index").GetInt32(), Is.Zero);
            Assert.That(item.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()), Is.EqualTo(Expected(0, 4)));
            Assert.That(root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), Is.EqualTo(3));
            Assert.That(root.GetProperty("usage").GetProperty("total_tokens").GetInt32(), Is.EqualTo(3));
            var received = root.GetProperty("received");
            Assert.That(received.GetProperty("input")[0].GetString(), Is.EqualTo("hello there world"));
            Assert.That(received.GetProperty("user").GetString(), Is.EqualTo("u-1"));
            Assert.That(received.GetProperty("encoding_format").GetString(), Is.EqualTo("float"));
            Assert.That(received.GetProperty("additional").GetProperty("custom").GetProperty("a").GetInt32(), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Base64_embeddings_decode_to_the_same_floats_as_the_float_format()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var floats = await proxy.PostJsonAsync("/v1/embeddings", """{"model":"embed","input":["a","b c"],"dimensions":7}""");
        var base64 = await proxy.PostJsonAsync("/v1/embeddings", """{"model":"embed","input":["a","b c"],"dimensions":7,"encoding_format":"base64"}""");

        Assert.That(base64.Status, Is.EqualTo(HttpStatusCode.OK), base64.Body);
        for (var i = 0; i < 2; i++)
        {
            var fromJson = floats.Json.GetProperty("data")[i].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            var bytes = Convert.FromBase64String(base64.Json.GetProperty("data")[i].GetProperty("embedding").GetString()!);
            var decoded = Enumerable.Range(0, bytes.Length / 4).Select(k => BitConverter.ToSingle(bytes, k * 4)).ToArray();
            Assert.That(decoded, Is.EqualTo(fromJson));
            Assert.That(decoded, Is.EqualTo(Expected(i, 7)));
        }
    }

    [Test]
    public async Task Token_array_inputs_reach_the_handler_as_tokens()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var single = await proxy.PostJsonAsync("/embeddings", """{"model":"embed","input":[1,2,3]}""");
        var several = await proxy.PostJsonAsync("/embeddings", """{"model":"embed","input":[[1,2],[3]]}""");

        Assert.That(single.Json.GetProperty("received").GetProperty("input").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "[1, 2, 3]" }));
        Assert.That(several.Json.GetProperty("received").GetProperty("input").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "[1, 2]", "[3]" }));
        Assert.That(several.Json.GetProperty("data").GetArrayLength(), Is.EqualTo(2));
    }

    [TestCase("""{"model":"embed"}""", "input", "missing_required_parameter")]
    [TestCase("""{"model":"embed","input":42}""", "input", "invalid_type")]
    [TestCase("""{"model":"embed","input":[]}""", "input", "empty_array")]
    [TestCase("""{"model":"embed","input":""}""", "input", "empty_string")]
    [TestCase("""{"model":"embed","input":["a",1]}""", "input[1]", "invalid_type")]
    [TestCase("""{"model":"embed","input":[[1],[-2]]}""", "input[1][0]", "invalid_type")]
    [TestCase("""{"model":"embed","input":"a","encoding_format":"hex"}""", "encoding_format", "invalid_value")]
    [TestCase("""{"model":"embed","input":"a","dimensions":0}""", "dimensions", "invalid_value")]
    [TestCase("""{"model":"embed","input":"a","dimensions":"8"}""", "dimensions", "invalid_type")]
    [TestCase("""{"input":"a"}""", "model", "missing_required_parameter")]
    [TestCase("""{"model":"nope","input":"a"}""", "model", "model_not_found")]
    public async Task Bad_input_is_a_400_naming_the_parameter(string body, string param, string code)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/v1/embeddings", body);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        var (_, actualParam, actualCode) = response.Error();
        Assert.That((actualParam, actualCode), Is.EqualTo((param, code)));
    }

    [Test]
    public async Task A_handler_status_code_reaches_the_client()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/embeddings", """{"model":"embed","input":"fail:429"}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(response.Error().Message, Is.EqualTo("scripted failure 429"));
    }

    [Test]
    public async Task The_deployment_timeout_cancels_the_handlers_token_and_answers_408()
    {
        var marker = Path.Combine(Path.GetTempPath(), $"pluginhost-cancel-{Guid.NewGuid():N}");
        var config = Yaml.Config(new Model("embed", "SurfaceHandlers:Everything", ("timeout", "1"), ("cancel_marker", marker)));
        await using var proxy = await TestProxy.StartAsync(config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/embeddings", """{"model":"embed","input":"hang"}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.RequestTimeout), response.Body);
        Assert.That(File.Exists(marker), Is.True, "the handler saw its token cancelled");
        File.Delete(marker);
    }
}
