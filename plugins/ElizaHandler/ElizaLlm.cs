using PluginHost.Sdk;
using PluginHost.Sdk.AI;

namespace ElizaHandler;

/// <summary>
/// A handler built on the <see cref="Microsoft.Extensions.AI.IChatClient"/> bridge: any <c>Microsoft.Extensions.AI</c>
/// chat client or embedding generator becomes a proxy model in one line. Here both are small and local (no
/// network): a rule-based <see cref="ElizaChatClient"/> for <c>/chat/completions</c> and <c>/completions</c>,
/// and a <see cref="HashingEmbeddingGenerator"/> for <c>/embeddings</c>, which also ranks documents for
/// <c>/rerank</c> by cosine similarity to the query.
/// </summary>
public sealed class ElizaLlm() : ChatClientLlm(new ElizaChatClient(), Embeddings)
{
    private static readonly HashingEmbeddingGenerator Embeddings = new();

    /// <inheritdoc />
    public override async Task<RerankResponse> RerankAsync(RerankRequest request, CancellationToken cancellationToken)
    {
        var texts = request.Documents.Select(d => d.Text ?? d.Raw.ToString()).Prepend(request.Query);
        var vectors = await Embeddings.GenerateAsync(texts, cancellationToken: cancellationToken);
        var query = vectors[0].Vector.Span;
        var results = new List<RerankResult>(request.Documents.Count);
        for (var i = 0; i < request.Documents.Count; i++)
        {
            // The vectors have length 1, so their dot product is the cosine similarity.
            var document = vectors[i + 1].Vector.Span;
            var score = 0f;
            for (var d = 0; d < query.Length; d++)
            {
                score += query[d] * document[d];
            }

            results.Add(new RerankResult(i, score));
        }

        return new RerankResponse { Results = results };
    }
}
