using System.Text;
using Microsoft.AspNetCore.Http;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using PluginHost.Tests.Infrastructure;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary>
/// <see cref="ImageEditsEndpoint"/>'s reading of an <c>/images/edits</c> multipart form, from a form parsed by ASP.NET Core's
/// own form reader on a <see cref="DefaultHttpContext"/>: no server.
/// </summary>
public sealed class ImageEditsEndpointTests
{
    private static readonly (string, string)[] Minimal = [("model", "asked-model"), ("prompt", "add a hat")];

    private static readonly (string, string, string)[] OneImage = [("image", "cat.png", "IMAGE")];

    private static async Task<ImageEditRequest> ReadAsync(IEnumerable<(string Name, string Value)> fields, (string Field, string FileName, string Content)[] files, RequestLimits? limits = null)
    {
        using var form = RawHttp.Form(fields, files);
        var context = new DefaultHttpContext();
        context.Request.ContentType = form.Headers.ContentType!.ToString();
        context.Request.Body = new MemoryStream(await form.ReadAsByteArrayAsync());
        using var input = await RequestInput.ReadAsync(context, form: true, maxBytes: 1024 * 1024);
        return await ImageEditsEndpoint.ReadFormAsync(input.Form!, Target, limits ?? new RequestLimits(), CancellationToken.None);
    }

    [Test]
    public async Task Every_field_and_file_lands_in_the_request()
    {
        var request = await ReadAsync(
            [.. Minimal, ("n", "2"), ("size", "256x256"), ("quality", "high"), ("response_format", "b64_json"), ("user", "user-7"), ("background", "transparent"), ("tag", "a"), ("tag", "b")],
            [("image[]", "one.png", "ONE"), ("image[]", "two.png", "TWO"), ("mask", "mask.png", "MASK")]);

        Assert.Multiple(() =>
        {
            Assert.That(request.Model, Is.EqualTo("provider-model"));
            Assert.That(request.RequestedModel, Is.EqualTo("asked-model"));
            Assert.That(request.Deployment, Is.SameAs(Settings));
            Assert.That(request.Prompt, Is.EqualTo("add a hat"));
            Assert.That(request.Images.Select(i => (i.FileName, i.ContentType, Encoding.UTF8.GetString(i.Content.Span))), Is.EqualTo(new[]
            {
                ("one.png", "image/png", "ONE"),
                ("two.png", "image/png", "TWO"),
            }));
            Assert.That(request.Mask?.FileName, Is.EqualTo("mask.png"));
            Assert.That(Encoding.UTF8.GetString(request.Mask!.Content.Span), Is.EqualTo("MASK"));
            Assert.That(request.N, Is.EqualTo(2));
            Assert.That(request.Size, Is.EqualTo("256x256"));
            Assert.That(request.Quality, Is.EqualTo("high"));
            Assert.That(request.ResponseFormat, Is.EqualTo("b64_json"));
            Assert.That(request.User, Is.EqualTo("user-7"));
            Assert.That(Raw(request.AdditionalProperties), Is.EqualTo(new Dictionary<string, string>
            {
                ["background"] = "\"transparent\"",
                ["tag"] = """["a","b"]""",
            }), "a field sent twice is an array; the model and typed fields are not extra");
        });
    }

    [Test]
    public async Task Absent_fields_take_their_defaults()
    {
        var request = await ReadAsync(Minimal, OneImage);

        Assert.Multiple(() =>
        {
            Assert.That(request.Images, Has.Count.EqualTo(1));
            Assert.That(request.Mask, Is.Null);
            Assert.That(request.N, Is.Null);
            Assert.That(request.Size, Is.Null);
            Assert.That(request.Quality, Is.Null);
            Assert.That(request.ResponseFormat, Is.Null);
            Assert.That(request.User, Is.Null);
            Assert.That(request.AdditionalProperties, Is.Empty);
        });
    }

    [TestCase("n")]
    [TestCase("size")]
    [TestCase("quality")]
    [TestCase("response_format")]
    [TestCase("user")]
    public async Task An_optional_field_sent_empty_reads_as_absent(string field)
    {
        var request = await ReadAsync([.. Minimal, (field, "")], OneImage);

        Assert.That((request.N, request.Size, request.Quality, request.ResponseFormat, request.User), Is.EqualTo(((int?)null, (string?)null, (string?)null, (string?)null, (string?)null)));
    }

    // Each mistake: the fields and files sent, the param and code of the 400, a piece of its message.
    private static readonly object[][] BadForms =
    [
        ["no image", new[] { "model=m", "prompt=p" }, Array.Empty<string>(), "image", "missing_required_parameter", "Missing required parameter: 'image'."],
        ["only a mask", new[] { "model=m", "prompt=p" }, new[] { "mask:m.png=M" }, "image", "missing_required_parameter", "'image'"],
        ["an image under another name", new[] { "model=m", "prompt=p" }, new[] { "picture:a.png=A" }, "image", "missing_required_parameter", "'image'"],
        ["no prompt", new[] { "model=m" }, new[] { "image:a.png=A" }, "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'."],
        ["empty prompt", new[] { "model=m", "prompt=" }, new[] { "image:a.png=A" }, "prompt", "missing_required_parameter", "'prompt'"],
        ["empty image", new[] { "model=m", "prompt=p" }, new[] { "image:a.png=" }, "image", "empty_file", "the uploaded file 'a.png' is empty"],
        ["empty second image", new[] { "model=m", "prompt=p" }, new[] { "image[]:a.png=A", "image[]:b.png=" }, "image[]", "empty_file", "'b.png' is empty"],
        ["empty mask", new[] { "model=m", "prompt=p" }, new[] { "image:a.png=A", "mask:m.png=" }, "mask", "empty_file", "'m.png' is empty"],
        ["n not a number", new[] { "model=m", "prompt=p", "n=two" }, new[] { "image:a.png=A" }, "n", "invalid_type", "Invalid type for 'n': expected an integer, but got 'two'."],
        ["n zero", new[] { "model=m", "prompt=p", "n=0" }, new[] { "image:a.png=A" }, "n", "invalid_value", "at least 1"],
        ["n over the limit", new[] { "model=m", "prompt=p", "n=3" }, new[] { "image:a.png=A" }, "n", "invalid_value", "(2; general_settings.max_images_per_request)"],
        ["size over the limit", new[] { "model=m", "prompt=p", "size=1024x1024" }, new[] { "image:a.png=A" }, "size", "invalid_value", "(512; general_settings.max_image_side_px)"],
        ["size not a size", new[] { "model=m", "prompt=p", "size=large" }, new[] { "image:a.png=A" }, "size", "invalid_value", "Invalid 'size': 'large'."],
        ["unknown response_format", new[] { "model=m", "prompt=p", "response_format=gif" }, new[] { "image:a.png=A" }, "response_format", "invalid_value", "Invalid value: 'gif'."],
    ];

    [TestCaseSource(nameof(BadForms))]
    public void A_bad_form_is_a_400_naming_the_parameter(string what, string[] fields, string[] files, string param, string code, string message)
    {
        var parsedFields = fields.Select(f => (f[..f.IndexOf('=', StringComparison.Ordinal)], f[(f.IndexOf('=', StringComparison.Ordinal) + 1)..]));
        var parsedFiles = files.Select(f =>
        {
            var (field, rest) = (f[..f.IndexOf(':', StringComparison.Ordinal)], f[(f.IndexOf(':', StringComparison.Ordinal) + 1)..]);
            return (field, rest[..rest.IndexOf('=', StringComparison.Ordinal)], rest[(rest.IndexOf('=', StringComparison.Ordinal) + 1)..]);
        }).ToArray();

        var error = Assert.ThrowsAsync<OpenAiException>(() => ReadAsync(parsedFields, parsedFiles, SmallLimits))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400), what);
            Assert.That(error.Param, Is.EqualTo(param), what);
            Assert.That(error.Code, Is.EqualTo(code), what);
            Assert.That(error.Message, Does.Contain(message), what);
        });
    }

    [Test]
    public void A_form_without_a_model_is_a_400_before_the_endpoint_reads_it()
    {
        var error = Assert.ThrowsAsync<OpenAiException>(() => ReadAsync([("prompt", "p")], OneImage))!;

        Assert.That((error.Status, error.Param, error.Code), Is.EqualTo((400, "model", "missing_required_parameter")));
    }
}
