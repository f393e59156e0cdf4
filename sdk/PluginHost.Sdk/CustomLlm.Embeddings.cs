namespace PluginHost.Sdk;

public abstract partial class CustomLlm
{
    /// <summary>LiteLLM's <c>embedding</c>: embeds the request's inputs synchronously.</summary>
    /// <exception cref="CustomLlmException">Status 500 when neither embedding method is overridden.</exception>
    public virtual EmbeddingResponse Embedding(EmbeddingRequest request)
    {
        if (Overrides(Method.EmbeddingAsync))
        {
            return EmbeddingAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        }

        throw CustomLlmException.NotImplemented();
    }

    /// <summary>
    /// LiteLLM's <c>aembedding</c>: embeds the request's inputs, one vector per input. The host calls this one
    /// for <c>POST /embeddings</c>; override either this or <see cref="Embedding"/>.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <exception cref="CustomLlmException">Status 500 when neither embedding method is overridden.</exception>
    public virtual Task<EmbeddingResponse> EmbeddingAsync(EmbeddingRequest request, CancellationToken cancellationToken)
    {
        if (Overrides(Method.Embedding))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Task.FromResult(Embedding(request));
        }

        return Task.FromException<EmbeddingResponse>(CustomLlmException.NotImplemented());
    }
}
