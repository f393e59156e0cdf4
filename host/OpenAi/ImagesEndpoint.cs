using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using PluginHost.Configuration;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// <c>POST /images/generations</c> (JSON) and <c>POST /images/edits</c> (a multipart form with <c>image</c> or
/// <c>image[]</c> files, an optional <c>mask</c>, and <c>prompt</c>), both answering OpenAI's images response.
/// </summary>
internal static class ImagesEndpoint
{
    private static readonly string[] ResponseFormats = ["url", "b64_json"];

    public static async Task GenerateAsync(HttpContext context, ProxyRuntime runtime)
    {
        using var call = await JsonApiCall.BeginAsync(context, runtime);
        var binding = call.Binding;
        var request = ReadGeneration(call.Root, call.Model, call.Deployment);
        using var deadline = Deadline.Start(context.RequestAborted, request.Timeout);
        var response = await HandlerCall.InvokeAsync(binding, deadline, nameof(CustomLlm.ImageGenerationAsync), (handler, token) => handler.ImageGenerationAsync(request, token));
        Validate(binding, response);
        await HandlerCall.WriteJsonAsync(context, writer => Write(writer, response));
    }

    public static async Task EditAsync(HttpContext context, ProxyRuntime runtime)
    {
        var form = await ReadFormAsync(context, runtime.Current.Config.MaxRequestBytes);
        var model = form["model"].ToString() is { Length: > 0 } name ? name : throw RequestFields.Missing("model");
        using var lease = ChatCompletionsEndpoint.Lease(runtime, model);
        var binding = lease.Binding!;
        var request = await ReadEditAsync(form, model, lease.Route.Deployment, context.RequestAborted);
        using var deadline = Deadline.Start(context.RequestAborted, request.Timeout);
        var response = await HandlerCall.InvokeAsync(binding, deadline, nameof(CustomLlm.ImageEditAsync), (handler, token) => handler.ImageEditAsync(request, token));
        Validate(binding, response);
        await HandlerCall.WriteJsonAsync(context, writer => Write(writer, response));
    }

    public static ImageGenerationRequest ReadGeneration(JsonElement root, string requestedModel, ModelDeployment deployment)
    {
        string? prompt = null, size = null, quality = null, responseFormat = null, style = null, user = null;
        int? n = null;
        Dictionary<string, JsonElement>? additional = null;
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
                    n = RequestFields.Integer(value, "n", 1, 10);
                    break;
                case "size":
                    size = RequestFields.String(value, "size");
                    break;
                case "quality":
                    quality = RequestFields.String(value, "quality");
                    break;
                case "response_format":
                    responseFormat = RequestFields.OneOf(value, "response_format", ResponseFormats);
                    break;
                case "style":
                    style = RequestFields.String(value, "style");
                    break;
                case "user":
                    user = RequestFields.String(value, "user");
                    break;
                default:
                    (additional ??= new Dictionary<string, JsonElement>(StringComparer.Ordinal))[property.Name] = value.Clone();
                    break;
            }
        }

        return new ImageGenerationRequest
        {
            Model = deployment.ProviderModel,
            RequestedModel = requestedModel,
            Prompt = prompt ?? throw RequestFields.Missing("prompt"),
            N = n,
            Size = size,
            Quality = quality,
            ResponseFormat = responseFormat,
            Style = style,
            User = user,
            AdditionalProperties = (IReadOnlyDictionary<string, JsonElement>?)additional ?? ChatCompletionRequestDefaults.Empty,
            ApiBase = deployment.ApiBase,
            ApiKey = deployment.ApiKey,
            LitellmParams = deployment.ExtraParams,
            Timeout = deployment.Timeout,
        };
    }

    /// <summary>Reads the multipart form, turning every way it can be wrong into a 4xx.</summary>
    private static async Task<IFormCollection> ReadFormAsync(HttpContext context, long maxBytes)
    {
        var request = context.Request;
        if (!request.HasFormContentType)
        {
            throw new OpenAiException(
                StatusCodes.Status415UnsupportedMediaType,
                $"Image edits take a multipart/form-data body (image, mask, prompt, model…), not '{request.ContentType ?? "no content type"}'.",
                code: "unsupported_content_type");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }

        if (request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }

        try
        {
            return await request.ReadFormAsync(context.RequestAborted);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
        catch (InvalidDataException ex)
        {
            throw OpenAiException.BadRequest($"We could not parse the multipart body of your request: {ex.Message}", code: "invalid_multipart");
        }
        catch (IOException ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            throw OpenAiException.BadRequest($"We could not parse the multipart body of your request: {ex.Message}", code: "invalid_multipart");
        }
    }

    private static async Task<ImageEditRequest> ReadEditAsync(IFormCollection form, string requestedModel, ModelDeployment deployment, CancellationToken cancellationToken)
    {
        var images = new List<ImageFile>();
        foreach (var file in form.Files)
        {
            if (file.Name is "image" or "image[]")
            {
                images.Add(await ReadFileAsync(file, $"{file.Name}", cancellationToken));
            }
        }

        if (images.Count == 0)
        {
            throw RequestFields.Missing("image");
        }

        var mask = form.Files.GetFile("mask") is { } maskFile ? await ReadFileAsync(maskFile, "mask", cancellationToken) : null;
        Dictionary<string, JsonElement>? additional = null;
        foreach (var (name, values) in form)
        {
            if (name is not ("model" or "prompt" or "n" or "size" or "quality" or "response_format" or "user"))
            {
                (additional ??= new Dictionary<string, JsonElement>(StringComparer.Ordinal))[name] = ToJson(values);
            }
        }

        return new ImageEditRequest
        {
            Model = deployment.ProviderModel,
            RequestedModel = requestedModel,
            Prompt = form["prompt"].ToString() is { Length: > 0 } prompt ? prompt : throw RequestFields.Missing("prompt"),
            Images = images,
            Mask = mask,
            N = RequestFields.Integer(form["n"].ToString(), "n", 1, 10),
            Size = Optional(form, "size"),
            Quality = Optional(form, "quality"),
            ResponseFormat = RequestFields.OneOf(Optional(form, "response_format"), "response_format", ResponseFormats),
            User = Optional(form, "user"),
            AdditionalProperties = (IReadOnlyDictionary<string, JsonElement>?)additional ?? ChatCompletionRequestDefaults.Empty,
            ApiBase = deployment.ApiBase,
            ApiKey = deployment.ApiKey,
            LitellmParams = deployment.ExtraParams,
            Timeout = deployment.Timeout,
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

    private static void Validate(HandlerBinding binding, ImageResponse response)
    {
        if (response.Data is null)
        {
            throw HandlerCall.BadAnswer(binding, "ImageResponse.Data is null.");
        }
    }

    public static void Write(Utf8JsonWriter writer, ImageResponse response)
    {
        writer.WriteStartObject();
        writer.WriteNumber("created"u8, (response.Created ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds());
        writer.WriteStartArray("data"u8);
        foreach (var image in response.Data)
        {
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
        HandlerCall.WriteExtraFields(writer, response.AdditionalProperties);
        writer.WriteEndObject();
    }

    private static OpenAiException TooLarge(long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than the limit of {maxBytes / (1024.0 * 1024.0):0.##} MB (general_settings.max_request_size_mb).", code: "request_too_large");
}
