using System.Globalization;
using PluginHost.Sdk;

namespace PlaceholderImages;

/// <summary>
/// An image model that needs no network: draws a PNG gradient whose two colours are picked from the
/// prompt, so the same prompt always gives the same picture. Honours <c>n</c>, <c>size</c> (<c>WxH</c>, at most
/// 1024 each way) and <c>response_format</c> (<c>b64_json</c>, or <c>url</c> as a <c>data:</c> URL).
/// Only <see cref="ImageGeneration"/> is overridden: the host calls <see cref="CustomLlm.ImageGenerationAsync"/>,
/// which falls back to it.
/// </summary>
public sealed class PlaceholderImageLlm : CustomLlm
{
    /// <inheritdoc />
    public override ImageResponse ImageGeneration(ImageGenerationRequest request)
    {
        var (width, height) = ParseSize(request.Size);
        var images = new List<ImageData>();
        for (var i = 0; i < (request.N ?? 1); i++)
        {
            var png = Png.Gradient(width, height, Colour(request.Prompt, i, 0), Colour(request.Prompt, i, 1));
            images.Add(request.ResponseFormat == "b64_json"
                ? ImageData.FromBytes(png, revisedPrompt: request.Prompt)
                : ImageData.FromUrl("data:image/png;base64," + Convert.ToBase64String(png), revisedPrompt: request.Prompt));
        }

        return new ImageResponse { Data = images };
    }

    private static (int Width, int Height) ParseSize(string? size)
    {
        var parts = (size ?? "256x256").Split('x');
        return parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var width) && width is > 0 and <= 1024
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var height) && height is > 0 and <= 1024
            ? (width, height)
            : throw new CustomLlmException(400, $"Invalid 'size': '{size}'. Expected WIDTHxHEIGHT, each between 1 and 1024 (e.g. 256x256).") { Param = "size", ErrorCode = "invalid_value" };
    }

    /// <summary>A colour from the prompt's stable hash, different for each image and end of the gradient.</summary>
    private static (byte R, byte G, byte B) Colour(string prompt, int image, int end)
    {
        var hash = 2166136261u ^ (uint)((image * 2) + end);
        foreach (var c in prompt)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return ((byte)hash, (byte)(hash >> 8), (byte)(hash >> 16));
    }
}
