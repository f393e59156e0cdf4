namespace PluginHost.Sdk;

public abstract partial class CustomLlm
{
    /// <summary>LiteLLM's <c>image_generation</c>: draws images for a prompt, synchronously.</summary>
    /// <exception cref="CustomLlmException">Status 500 when neither image generation method is overridden.</exception>
    public virtual ImageResponse ImageGeneration(ImageGenerationRequest request)
    {
        if (Overrides(Method.ImageGenerationAsync))
        {
            return ImageGenerationAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        }

        throw CustomLlmException.NotImplemented();
    }

    /// <summary>
    /// LiteLLM's <c>aimage_generation</c>: draws images for a prompt. The host calls this one for
    /// <c>POST /images/generations</c>; override either this or <see cref="ImageGeneration"/>.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <exception cref="CustomLlmException">Status 500 when neither image generation method is overridden.</exception>
    public virtual Task<ImageResponse> ImageGenerationAsync(ImageGenerationRequest request, CancellationToken cancellationToken)
    {
        if (Overrides(Method.ImageGeneration))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Task.FromResult(ImageGeneration(request));
        }

        return Task.FromException<ImageResponse>(CustomLlmException.NotImplemented());
    }

    /// <summary>LiteLLM's <c>image_edit</c>: edits uploaded images, synchronously.</summary>
    /// <exception cref="CustomLlmException">Status 500 when neither image edit method is overridden.</exception>
    public virtual ImageResponse ImageEdit(ImageEditRequest request)
    {
        if (Overrides(Method.ImageEditAsync))
        {
            return ImageEditAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        }

        throw CustomLlmException.NotImplemented();
    }

    /// <summary>
    /// LiteLLM's <c>aimage_edit</c>: edits uploaded images. The host calls this one for
    /// <c>POST /images/edits</c>; override either this or <see cref="ImageEdit"/>.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <exception cref="CustomLlmException">Status 500 when neither image edit method is overridden.</exception>
    public virtual Task<ImageResponse> ImageEditAsync(ImageEditRequest request, CancellationToken cancellationToken)
    {
        if (Overrides(Method.ImageEdit))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Task.FromResult(ImageEdit(request));
        }

        return Task.FromException<ImageResponse>(CustomLlmException.NotImplemented());
    }
}
