using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary>
/// <see cref="ImageGenerationsEndpoint"/>'s reading of an <c>/images/generations</c> body, <see cref="ImagesResponse.Size"/>,
/// and the images response both image endpoints write, without a host.
/// </summary>
public sealed class ImageGenerationsEndpointTests
{
    private static readonly ImageGenerationRequest Request = new() { Model = "provider-model", RequestedModel = "asked-model", Prompt = "p" };

    private static ImageGenerationRequest Read(string json, RequestLimits? limits = null) =>
        ImageGenerationsEndpoint.Read(Parse(json), Target, limits ?? new RequestLimits());

    private static string Write(ImageResponse response) => UnitJson.Write(writer => ImageGenerationsEndpoint.Write(writer, Request, response));

    [Test]
    public void Every_field_lands_in_the_request()
    {
        var request = Read("""
            {"model":"asked-model","prompt":"a red fox","n":2,"size":"256x512","quality":"hd","response_format":"b64_json",
             "style":"vivid","user":"user-7","background":"transparent","output_compression":50}
            """);

        Assert.That(request, Is.EqualTo(new ImageGenerationRequest
        {
            Model = "provider-model",
            RequestedModel = "asked-model",
            Deployment = Settings,
            AdditionalProperties = request.AdditionalProperties,
            Prompt = "a red fox",
            N = 2,
            Size = "256x512",
            Quality = "hd",
            ResponseFormat = "b64_json",
            Style = "vivid",
            User = "user-7",
        }));
        Assert.That(Raw(request.AdditionalProperties), Is.EqualTo(new Dictionary<string, string> { ["background"] = "\"transparent\"", ["output_compression"] = "50" }));
    }

    [Test]
    public void Absent_fields_take_their_defaults()
    {
        var request = Read("""{"model":"asked-model","prompt":"p"}""");

        Assert.That(request, Is.EqualTo(new ImageGenerationRequest
        {
            Model = "provider-model",
            RequestedModel = "asked-model",
            Deployment = Settings,
            AdditionalProperties = request.AdditionalProperties,
            Prompt = "p",
        }));
    }

    [TestCase("n")]
    [TestCase("size")]
    [TestCase("quality")]
    [TestCase("response_format")]
    [TestCase("style")]
    [TestCase("user")]
    public void An_optional_field_sent_as_null_reads_as_absent(string field)
    {
        Assert.That(Read($$"""{"model":"m","prompt":"p","{{field}}":null}"""), Is.EqualTo(Read("""{"model":"m","prompt":"p"}""")));
    }

    [TestCase("\"url\"", "url")]
    [TestCase("\"b64_json\"", "b64_json")]
    public void Both_response_formats_are_accepted(string value, string expected)
    {
        Assert.That(Read($$"""{"model":"m","prompt":"p","response_format":{{value}}}""").ResponseFormat, Is.EqualTo(expected));
    }

    [TestCase(null)]
    [TestCase("auto")]
    [TestCase("1x1")]
    [TestCase("512x512")]
    [TestCase("256x512")]
    [TestCase("512x1")]
    [TestCase("0512x0512")]
    public void A_size_within_max_image_side_px_is_kept_as_sent(string? size)
    {
        Assert.That(ImagesResponse.Size(size, SmallLimits), Is.EqualTo(size));
    }

    [TestCase("big", "invalid_value", "Invalid 'size': 'big'. Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("AUTO", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("x512", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("512x", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("512X512", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("0x512", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("512x0", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("-1x5", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("+5x5", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase(" 5x5", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("5x5 ", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("5x5x5", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("1.5x2", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("99999999999x1", "invalid_value", "Expected 'auto' or WIDTHxHEIGHT")]
    [TestCase("513x1", "invalid_value", "513 pixels on a side is more than this proxy allows (512; general_settings.max_image_side_px)")]
    [TestCase("1x513", "invalid_value", "(512; general_settings.max_image_side_px)")]
    [TestCase("2147483647x2147483647", "invalid_value", "general_settings.max_image_side_px")]
    public void A_bad_size_is_a_400_naming_size(string size, string code, string message)
    {
        Assert.That(AssertRefused(() => ImagesResponse.Size(size, SmallLimits), "size", code), Does.Contain(message));
    }

    private static readonly object[][] BadBodies =
    [
        ["""{"model":"m"}""", "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'."],
        ["""{"model":"m","prompt":null}""", "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'."],
        ["""{"model":"m","prompt":5}""", "prompt", "invalid_type", "expected a non-empty string, but got a number"],
        ["""{"model":"m","prompt":["a"]}""", "prompt", "invalid_type", "but got an array"],
        ["""{"model":"m","prompt":""}""", "prompt", "empty_string", "Invalid 'prompt': empty string."],
        ["""{"model":"m","prompt":"x","n":0}""", "n", "invalid_value", "at least 1"],
        ["""{"model":"m","prompt":"x","n":-1}""", "n", "invalid_value", "at least 1"],
        ["""{"model":"m","prompt":"x","n":"2"}""", "n", "invalid_type", "expected an integer"],
        ["""{"model":"m","prompt":"x","n":1.5}""", "n", "invalid_type", "expected an integer"],
        ["""{"model":"m","prompt":"x","n":3}""", "n", "invalid_value", "3 is more than this proxy allows (2; general_settings.max_images_per_request)"],
        ["""{"model":"m","prompt":"x","size":512}""", "size", "invalid_type", "expected a string"],
        ["""{"model":"m","prompt":"x","size":"513x513"}""", "size", "invalid_value", "general_settings.max_image_side_px"],
        ["""{"model":"m","prompt":"x","size":"huge"}""", "size", "invalid_value", "Invalid 'size': 'huge'."],
        ["""{"model":"m","prompt":"x","quality":5}""", "quality", "invalid_type", "expected a string"],
        ["""{"model":"m","prompt":"x","response_format":"png"}""", "response_format", "invalid_value", "Invalid value: 'png'. Supported values are: 'url', 'b64_json'."],
        ["""{"model":"m","prompt":"x","response_format":1}""", "response_format", "invalid_type", "expected a string"],
        ["""{"model":"m","prompt":"x","style":{}}""", "style", "invalid_type", "expected a string"],
        ["""{"model":"m","prompt":"x","user":false}""", "user", "invalid_type", "expected a string"],
    ];

    [TestCaseSource(nameof(BadBodies))]
    public void A_bad_body_is_a_400_naming_the_parameter(string body, string param, string code, string message)
    {
        var actual = AssertRefused(() => Read(body, SmallLimits), param, code);

        Assert.That(actual, Does.Contain(message));
    }

    [Test]
    public void The_limits_themselves_are_accepted()
    {
        Assert.That(() => Read("""{"model":"m","prompt":"x","n":2,"size":"512x512"}""", SmallLimits), Throws.Nothing);
    }

    [Test]
    public void Images_are_written_in_OpenAIs_shape_with_only_the_fields_each_image_has()
    {
        var json = Write(new ImageResponse
        {
            Created = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000),
            Data = [ImageData.FromUrl("https://images.example/0.png", "revised: a fox"), ImageData.FromBytes([1, 2, 3])],
            AdditionalProperties = Fields("""{"usage":{"total_tokens":5},"output_format":"png"}"""),
        });

        AssertJson(json, """
            {"created":1700000000,
             "data":[{"url":"https://images.example/0.png","revised_prompt":"revised: a fox"},{"b64_json":"AQID"}],
             "usage":{"total_tokens":5},"output_format":"png"}
            """);
    }

    [Test]
    public void Without_a_created_time_the_host_uses_now()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var created = Parse(Write(new ImageResponse { Data = [] })).GetProperty("created").GetInt64();

        Assert.That(created, Is.InRange(before, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
    }

    [Test]
    public void The_edit_endpoint_writes_the_same_response()
    {
        var response = new ImageResponse { Created = DateTimeOffset.FromUnixTimeSeconds(1), Data = [ImageData.FromUrl("u")] };
        var edit = new ImageEditRequest { Model = "m", RequestedModel = "m", Prompt = "p", Images = [] };

        Assert.That(UnitJson.Write(writer => ImageEditsEndpoint.Write(writer, edit, response)), Is.EqualTo(Write(response)));
    }

    private static readonly object[][] MalformedAnswers =
    [
        [new ImageResponse { Data = null! }, "ImageResponse.Data is null."],
        [new ImageResponse { Data = [ImageData.FromUrl("u"), null!] }, "ImageResponse.Data[1] is null."],
    ];

    [TestCaseSource(nameof(MalformedAnswers))]
    public void A_malformed_answer_throws_naming_what_is_wrong(ImageResponse response, string message)
    {
        Assert.That(AssertMalformed(writer => ImageGenerationsEndpoint.Write(writer, Request, response)), Is.EqualTo(message));
    }
}
