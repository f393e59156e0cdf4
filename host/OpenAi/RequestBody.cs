using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace PluginHost.OpenAi;

/// <summary>Reads a JSON request body, turning every way it can be wrong into a 4xx OpenAI error.</summary>
internal static class RequestBody
{
    // Trailing commas are accepted: the reference page's own curl example has one.
    private static readonly JsonDocumentOptions Options = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 128 };

    public static async Task<JsonDocument> ReadJsonAsync(HttpContext context, long maxBytes)
    {
        var request = context.Request;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }

        if (request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }

        if (request.ContentLength == 0)
        {
            throw Empty();
        }

        try
        {
            return await JsonDocument.ParseAsync(request.Body, Options, context.RequestAborted);
        }
        catch (JsonException ex) when (ex.LineNumber == 0 && ex.BytePositionInLine == 0)
        {
            throw Empty();
        }
        catch (JsonException ex)
        {
            throw OpenAiException.BadRequest(
                $"We could not parse the JSON body of your request: {ex.Message} The API expects a JSON object, e.g. {{\"model\": \"...\", \"messages\": [...]}}.",
                code: "invalid_json");
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
    }

    private static OpenAiException Empty() =>
        OpenAiException.BadRequest("The request body is empty. The API expects a JSON object, e.g. {\"model\": \"...\", \"messages\": [...]}.", code: "invalid_json");

    private static OpenAiException TooLarge(long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than the limit of {maxBytes / (1024.0 * 1024.0):0.##} MB (general_settings.max_request_size_mb).", code: "request_too_large");
}
