using System.Text.Json;

namespace PluginHost.Sdk;

/// <summary>
/// One image generation request (<c>POST /images/generations</c>) as the handler sees it, already validated,
/// plus what the proxy's configuration says about the deployment that serves it.
/// </summary>
public sealed record ImageGenerationRequest : LlmRequest
{
    /// <summary><c>prompt</c>: what to draw.</summary>
    public required string Prompt { get; init; }

    /// <summary><c>n</c>: how many images, if the client said (OpenAI's default is 1).</summary>
    public int? N { get; init; }

    /// <summary><c>size</c>, e.g. <c>1024x1024</c>, as sent.</summary>
    public string? Size { get; init; }

    /// <summary><c>quality</c>, e.g. <c>standard</c>, <c>hd</c>, <c>high</c>, as sent.</summary>
    public string? Quality { get; init; }

    /// <summary><c>response_format</c>: <c>url</c> or <c>b64_json</c>, if the client said.</summary>
    public string? ResponseFormat { get; init; }

    /// <summary><c>style</c>, e.g. <c>vivid</c> or <c>natural</c>, as sent.</summary>
    public string? Style { get; init; }

    /// <summary><c>user</c>.</summary>
    public string? User { get; init; }
}

/// <summary>
/// One image edit request (<c>POST /images/edits</c>, a multipart form) as the handler sees it, already
/// validated, plus what the proxy's configuration says about the deployment that serves it.
/// </summary>
public sealed record ImageEditRequest : LlmRequest
{
    /// <summary><c>prompt</c>: the edit to make.</summary>
    public required string Prompt { get; init; }

    /// <summary>The uploaded images (<c>image</c> or <c>image[]</c>), at least one, in upload order.</summary>
    public required IReadOnlyList<ImageFile> Images { get; init; }

    /// <summary><c>mask</c>: where to edit (transparent areas), if uploaded.</summary>
    public ImageFile? Mask { get; init; }

    /// <summary><c>n</c>: how many images, if the client said.</summary>
    public int? N { get; init; }

    /// <summary><c>size</c>, as sent.</summary>
    public string? Size { get; init; }

    /// <summary><c>quality</c>, as sent.</summary>
    public string? Quality { get; init; }

    /// <summary><c>response_format</c>: <c>url</c> or <c>b64_json</c>, if the client said.</summary>
    public string? ResponseFormat { get; init; }

    /// <summary><c>user</c>.</summary>
    public string? User { get; init; }
}

/// <summary>An uploaded file of an <see cref="ImageEditRequest"/>.</summary>
public sealed record ImageFile
{
    /// <summary>The file name the client gave, if any.</summary>
    public string? FileName { get; init; }

    /// <summary>The content type the client gave, e.g. <c>image/png</c>, if any.</summary>
    public string? ContentType { get; init; }

    /// <summary>The file's bytes.</summary>
    public required ReadOnlyMemory<byte> Content { get; init; }
}

/// <summary>
/// The answer to an image generation or edit: OpenAI's images response. The host fills <c>created</c> with
/// the current time when null.
/// </summary>
public sealed record ImageResponse
{
    /// <summary>When the images were created; the host uses the current time when null.</summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary>The images.</summary>
    public required IReadOnlyList<ImageData> Data { get; init; }

    /// <summary>Extra top-level fields (<c>usage</c>, <c>background</c>, <c>output_format</c>…), written as they are.</summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalProperties { get; init; }
}

/// <summary>One image: a URL or base64 bytes, and the prompt actually used.</summary>
public sealed record ImageData
{
    /// <summary><c>url</c>: where the image can be downloaded.</summary>
    public string? Url { get; init; }

    /// <summary><c>b64_json</c>: the image bytes, base64-encoded.</summary>
    public string? B64Json { get; init; }

    /// <summary><c>revised_prompt</c>, if the model rewrote the prompt.</summary>
    public string? RevisedPrompt { get; init; }

    /// <summary>An image given as bytes: <c>b64_json</c>.</summary>
    public static ImageData FromBytes(ReadOnlySpan<byte> image, string? revisedPrompt = null) =>
        new() { B64Json = Convert.ToBase64String(image), RevisedPrompt = revisedPrompt };

    /// <summary>An image given by URL.</summary>
    public static ImageData FromUrl(string url, string? revisedPrompt = null) => new() { Url = url, RevisedPrompt = revisedPrompt };
}
