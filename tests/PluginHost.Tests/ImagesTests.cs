using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI.Images;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary><c>POST /images/generations</c> and the multipart <c>POST /images/edits</c> through the real host.</summary>
public sealed class ImagesTests
{
    private static readonly string Config = Yaml.Config(new Model("draw", "SurfaceHandlers:Everything"));

    [Test]
    public async Task The_OpenAI_SDK_generates_images_as_bytes()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");
        var options = new ImageGenerationOptions { ResponseFormat = GeneratedImageFormat.Bytes, Size = GeneratedImageSize.W256xH256 };

        var images = (await proxy.OpenAi().GetImageClient("draw").GenerateImagesAsync("a red fox", 2, options)).Value;

        Assert.That(images, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(Encoding.UTF8.GetString(images[0].ImageBytes.ToArray()), Is.EqualTo("a red fox|256x256|||0"));
            Assert.That(Encoding.UTF8.GetString(images[1].ImageBytes.ToArray()), Is.EqualTo("a red fox|256x256|||1"));
            Assert.That(images[0].RevisedPrompt, Is.EqualTo("revised: a red fox"));
            Assert.That(images.CreatedAt, Is.EqualTo(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000)));
        });
    }

    [Test]
    public async Task A_url_image_has_OpenAIs_shape()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/images/generations", """{"model":"draw","prompt":"a boat","quality":"hd","style":"vivid"}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var image = response.Json.GetProperty("data")[0];
        Assert.Multiple(() =>
        {
            Assert.That(response.Json.GetProperty("created").GetInt64(), Is.EqualTo(1_700_000_000));
            Assert.That(image.GetProperty("url").GetString(), Is.EqualTo("https://images.example/0.png"));
            Assert.That(image.TryGetProperty("b64_json", out _), Is.False);
            Assert.That(image.GetProperty("revised_prompt").GetString(), Is.EqualTo("revised: a boat"));
        });
    }

    [Test]
    public async Task The_OpenAI_SDK_edits_an_image_with_a_mask_as_a_multipart_form()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");
        using var image = new MemoryStream(Encoding.UTF8.GetBytes("IMAGE-BYTES"));
        using var mask = new MemoryStream(Encoding.UTF8.GetBytes("MASK-BYTES"));
        var options = new ImageEditOptions { ResponseFormat = GeneratedImageFormat.Bytes, Size = GeneratedImageSize.W512xH512 };

        var edited = (await proxy.OpenAi().GetImageClient("draw").GenerateImageEditAsync(image, "cat.png", "add a hat", mask, "mask.png", options)).Value;

        var received = JsonDocument.Parse(edited.ImageBytes.ToArray()).RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(received.GetProperty("prompt").GetString(), Is.EqualTo("add a hat"));
            Assert.That(received.GetProperty("images").GetArrayLength(), Is.EqualTo(1));
            Assert.That(received.GetProperty("images")[0].GetProperty("file_name").GetString(), Is.EqualTo("cat.png"));
            Assert.That(received.GetProperty("images")[0].GetProperty("content").GetString(), Is.EqualTo("IMAGE-BYTES"));
            Assert.That(received.GetProperty("mask").GetProperty("file_name").GetString(), Is.EqualTo("mask.png"));
            Assert.That(received.GetProperty("mask").GetProperty("content").GetString(), Is.EqualTo("MASK-BYTES"));
            Assert.That(received.GetProperty("size").GetString(), Is.EqualTo("512x512"));
            Assert.That(received.GetProperty("response_format").GetString(), Is.EqualTo("b64_json"));
        });
    }

    [Test]
    public async Task An_edit_takes_several_images_in_order_and_keeps_unknown_fields()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");
        using var form = RawHttp.Form(
            [("model", "draw"), ("prompt", "merge them"), ("n", "1"), ("background", "transparent")],
            ("image[]", "one.png", "ONE"),
            ("image[]", "two.png", "TWO"));

        var response = await proxy.PostAsync("/v1/images/edits", form);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var received = JsonDocument.Parse(Convert.FromBase64String(response.Json.GetProperty("data")[0].GetProperty("b64_json").GetString()!)).RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(received.GetProperty("images").EnumerateArray().Select(i => i.GetProperty("content").GetString()), Is.EqualTo(new[] { "ONE", "TWO" }));
            Assert.That(received.GetProperty("mask").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(received.GetProperty("n").GetInt32(), Is.EqualTo(1));
            Assert.That(received.GetProperty("additional").GetProperty("background").GetString(), Is.EqualTo("transparent"));
        });
    }

    [TestCase("""{"model":"draw"}""", "prompt", "missing_required_parameter")]
    [TestCase("""{"model":"draw","prompt":5}""", "prompt", "invalid_type")]
    [TestCase("""{"model":"draw","prompt":""}""", "prompt", "empty_string")]
    [TestCase("""{"model":"draw","prompt":"x","n":0}""", "n", "invalid_value")]
    [TestCase("""{"model":"draw","prompt":"x","n":11}""", "n", "invalid_value")]
    [TestCase("""{"model":"draw","prompt":"x","response_format":"png"}""", "response_format", "invalid_value")]
    [TestCase("""{"model":"draw","prompt":"x","size":512}""", "size", "invalid_type")]
    public async Task A_bad_generation_request_is_a_400_naming_the_parameter(string body, string param, string code)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/v1/images/generations", body);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        var (_, actualParam, actualCode) = response.Error();
        Assert.That((actualParam, actualCode), Is.EqualTo((param, code)));
    }

    [TestCase("no-image", "image")]
    [TestCase("no-prompt", "prompt")]
    [TestCase("no-model", "model")]
    [TestCase("bad-n", "n")]
    [TestCase("empty-image", "image")]
    [TestCase("bad-format", "response_format")]
    public async Task A_bad_edit_form_is_a_400_naming_the_parameter(string mistake, string param)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");
        var fields = new List<(string, string)> { ("model", "draw"), ("prompt", "p") };
        var files = new List<(string, string, string)> { ("image", "a.png", "A") };
        switch (mistake)
        {
            case "no-image": files.Clear(); break;
            case "no-prompt": fields.RemoveAt(1); break;
            case "no-model": fields.RemoveAt(0); break;
            case "bad-n": fields.Add(("n", "two")); break;
            case "empty-image": files[0] = ("image", "a.png", ""); break;
            case "bad-format": fields.Add(("response_format", "gif")); break;
        }

        using var form = RawHttp.Form(fields, [.. files]);
        var response = await proxy.PostAsync("/images/edits", form);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        Assert.That(response.Error().Param, Is.EqualTo(param));
    }

    [Test]
    public async Task An_edit_sent_as_JSON_is_a_415()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/images/edits", """{"model":"draw","prompt":"p"}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.UnsupportedMediaType), response.Body);
        Assert.That(response.Error().Code, Is.EqualTo("unsupported_content_type"));
    }

    [Test]
    public async Task A_handler_status_code_reaches_the_client_from_an_edit()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");
        using var form = RawHttp.Form([("model", "draw"), ("prompt", "fail:402")], ("image", "a.png", "A"));

        var response = await proxy.PostAsync("/images/edits", form);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.PaymentRequired), response.Body);
        Assert.That(response.Error().Message, Is.EqualTo("scripted failure 402"));
    }
}
