using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary><c>POST /images/generations</c>: a prompt in, OpenAI's images response out.</summary>
internal sealed class ImageGenerationsEndpoint : IHandlerEndpoint<ImageGenerationRequest, ImageResponse>
{
    public static HandlerCapabilities Capability => HandlerCapabilities.ImageGenerations;

    public static string Operation => "image_generation";

    public static Task<ImageResponse> InvokeAsync(CustomLlm handler, ImageGenerationRequest request, CancellationToken cancellationToken) =>
        handler.ImageGenerationAsync(request, cancellationToken);

    public static void Write(Utf8JsonWriter writer, ImageGenerationRequest request, ImageResponse response) => ImagesResponse.Write(writer, response);

    public static ImageGenerationRequest Read(JsonElement root, RequestTarget target, RequestLimits limits)
    {
        string? prompt = null, size = null, quality = null, responseFormat = null, style = null, user = null;
        int? n = null;
        var extra = new ExtraFields();
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model":
                    break;
                case "prompt":
                    prompt = RequestFields.RequiredString(value, "prompt");
                    break;
                case "n":
                    n = RequestFields.Integer(value, "n", 1, limits.MaxImagesPerRequest, "max_images_per_request");
                    break;
                case "size":
                    size = ImagesResponse.Size(RequestFields.String(value, "size"), limits);
                    break;
                case "quality":
                    quality = RequestFields.String(value, "quality");
                    break;
                case "response_format":
                    responseFormat = RequestFields.OneOf(value, "response_format", ImagesResponse.Formats);
                    break;
                case "style":
                    style = RequestFields.String(value, "style");
                    break;
                case "user":
                    user = RequestFields.String(value, "user");
                    break;
                default:
                    extra.Add(property);
                    break;
            }
        }

        return new ImageGenerationRequest
        {
            Prompt = prompt ?? throw RequestFields.Missing("prompt"),
            Model = target.Deployment.ProviderModel,
            RequestedModel = target.RequestedModel,
            Deployment = target.Deployment.Settings,
            AdditionalProperties = extra.ToReadOnly(),
            N = n,
            Size = size,
            Quality = quality,
            ResponseFormat = responseFormat,
            Style = style,
            User = user,
        };
    }
}

/// <summary><c>POST /images/edits</c>: a multipart form with <c>image</c> or <c>image[]</c> files, an optional <c>mask</c>, and <c>prompt</c>.</summary>
internal sealed class ImageEditsEndpoint : IHandlerEndpoint<ImageEditRequest, ImageResponse>
{
    private static readonly string[] Typed = ["model", "prompt", "n", "size", "quality", "response_format", "user"];

    public static HandlerCapabilities Capability => HandlerCapabilities.ImageEdits;

    public static string Operation => "image_edit";

    public static bool TakesForm => true;

    public static Task<ImageResponse> InvokeAsync(CustomLlm handler, ImageEditRequest request, CancellationToken cancellationToken) =>
        handler.ImageEditAsync(request, cancellationToken);

    public static void Write(Utf8JsonWriter writer, ImageEditRequest request, ImageResponse response) => ImagesResponse.Write(writer, response);

    public static async ValueTask<ImageEditRequest> ReadFormAsync(IFormCollection form, RequestTarget target, RequestLimits limits, CancellationToken cancellationToken)
    {
        var images = new List<ImageFile>();
        foreach (var file in form.Files)
        {
            if (file.Name is "image" or "image[]")
            {
                images.Add(await ReadFileAsync(file, file.Name, cancellationToken));
            }
        }

        if (images.Count == 0)
        {
            throw RequestFields.Missing("image");
        }

        var mask = form.Files.GetFile("mask") is { } maskFile ? await ReadFileAsync(maskFile, "mask", cancellationToken) : null;
        var extra = new ExtraFields();
        foreach (var (name, values) in form)
        {
            if (!Typed.Contains(name))
            {
                extra.Add(name, ToJson(values));
            }
        }

        var n = RequestFields.Integer(form["n"].ToString(), "n", 1);
        RequestFields.AtMost(n ?? 0, limits.MaxImagesPerRequest, "n", "", "max_images_per_request");
        return new ImageEditRequest
        {
            Prompt = form["prompt"].ToString() is { Length: > 0 } prompt ? prompt : throw RequestFields.Missing("prompt"),
            Model = target.Deployment.ProviderModel,
            RequestedModel = target.RequestedModel,
            Deployment = target.Deployment.Settings,
            AdditionalProperties = extra.ToReadOnly(),
            Images = images,
            Mask = mask,
            N = n,
            Size = ImagesResponse.Size(Optional(form, "size"), limits),
            Quality = Optional(form, "quality"),
            ResponseFormat = RequestFields.OneOf(Optional(form, "response_format"), "response_format", ImagesResponse.Formats),
            User = Optional(form, "user"),
        };
    }

    /// <summary>A form field as JSON: a string, or an array of strings when it was sent several times.</summary>
    private static JsonElement ToJson(Microsoft.Extensions.Primitives.StringValues values)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            if (values.Count == 1)
            {
                writer.WriteStringValue(values[0]);
            }
            else
            {
                writer.WriteStartArray();
                foreach (var value in values)
                {
                    writer.WriteStringValue(value);
                }

                writer.WriteEndArray();
            }
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    private static string? Optional(IFormCollection form, string name) => form[name].ToString() is { Length: > 0 } value ? value : null;

    private static async Task<ImageFile> ReadFileAsync(IFormFile file, string param, CancellationToken cancellationToken)
    {
        if (file.Length == 0)
        {
            throw OpenAiException.BadRequest($"Invalid '{param}': the uploaded file '{file.FileName}' is empty.", param, "empty_file");
        }

        var bytes = new byte[file.Length];
        await using (var stream = file.OpenReadStream())
        {
            await stream.ReadExactlyAsync(bytes, cancellationToken);
        }

        return new ImageFile { FileName = file.FileName, ContentType = file.ContentType, Content = bytes };
    }
}

/// <summary>OpenAI's images response, the answer of both image endpoints, and the request fields they share.</summary>
internal static class ImagesResponse
{
    public static readonly string[] Formats = ["url", "b64_json"];

    /// <summary>
    /// <c>size</c>: <c>auto</c> or <c>WIDTHxHEIGHT</c>, each side within <c>general_settings.max_image_side_px</c>, so
    /// no request makes a handler allocate an image without bound.
    /// </summary>
    public static string? Size(string? size, RequestLimits limits)
    {
        if (size is null or "auto")
        {
            return size;
        }

        var x = size.IndexOf('x', StringComparison.Ordinal);
        if (x <= 0
            || !int.TryParse(size.AsSpan(0, x), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var width)
            || !int.TryParse(size.AsSpan(x + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var height)
            || width == 0 || height == 0)
        {
            throw OpenAiException.BadRequest($"Invalid 'size': '{size}'. Expected 'auto' or WIDTHxHEIGHT in pixels, e.g. '1024x1024'.", "size", "invalid_value");
        }

        RequestFields.AtMost(Math.Max(width, height), limits.MaxImageSidePixels, "size", "pixels on a side", "max_image_side_px");
        return size;
    }

    public static void Write(Utf8JsonWriter writer, ImageResponse response)
    {
        var data = ResponseJson.Required(response.Data, "ImageResponse.Data");
        writer.WriteStartObject();
        writer.WriteNumber("created"u8, (response.Created ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds());
        writer.WriteStartArray("data"u8);
        for (var i = 0; i < data.Count; i++)
        {
            var image = ResponseJson.Item(data[i], "ImageResponse.Data", i);
            writer.WriteStartObject();
            if (image.Url is not null)
            {
                writer.WriteString("url"u8, image.Url);
            }

            if (image.B64Json is not null)
            {
                writer.WriteString("b64_json"u8, image.B64Json);
            }

            if (image.RevisedPrompt is not null)
            {
                writer.WriteString("revised_prompt"u8, image.RevisedPrompt);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        ResponseJson.WriteExtraFields(writer, response.AdditionalProperties);
        writer.WriteEndObject();
    }
}
