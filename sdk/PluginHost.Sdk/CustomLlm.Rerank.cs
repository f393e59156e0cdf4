namespace PluginHost.Sdk;

public abstract partial class CustomLlm
{
    /// <summary>Ranks documents by relevance to a query, synchronously.</summary>
    /// <exception cref="CustomLlmException">Status 500 when neither rerank method is overridden.</exception>
    public virtual RerankResponse Rerank(RerankRequest request)
    {
        if (Overrides(Method.RerankAsync))
        {
            return RerankAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        }

        throw CustomLlmException.NotImplemented();
    }

    /// <summary>
    /// Ranks documents by relevance to a query. The host calls this one for <c>POST /rerank</c>; override
    /// either this or <see cref="Rerank"/>.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <exception cref="CustomLlmException">Status 500 when neither rerank method is overridden.</exception>
    public virtual Task<RerankResponse> RerankAsync(RerankRequest request, CancellationToken cancellationToken)
    {
        if (Overrides(Method.Rerank))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Task.FromResult(Rerank(request));
        }

        return Task.FromException<RerankResponse>(CustomLlmException.NotImplemented());
    }
}
