using System.Text.Json;

namespace PluginHost.Sdk;

/// <summary>
/// One rerank request (<c>POST /rerank</c>, Cohere's shape as LiteLLM serves it) as the handler sees it,
/// already validated, plus what the proxy's configuration says about the deployment that serves it.
/// </summary>
public sealed record RerankRequest : LlmRequest
{
    /// <summary><c>query</c>: what the documents are ranked against.</summary>
    public required string Query { get; init; }

    /// <summary><c>documents</c>: at least one, in the client's order (results refer to them by index).</summary>
    public required IReadOnlyList<RerankDocument> Documents { get; init; }

    /// <summary><c>top_n</c>: how many results the client wants, if it said. The host trims longer answers.</summary>
    public int? TopN { get; init; }

    /// <summary>
    /// <c>return_documents</c> (default true, as in LiteLLM). Informational: the host adds each result's
    /// document itself.
    /// </summary>
    public bool ReturnDocuments { get; init; } = true;

    /// <summary><c>rank_fields</c>: for object documents, the fields to rank on, if the client said.</summary>
    public IReadOnlyList<string>? RankFields { get; init; }

    /// <summary><c>max_chunks_per_doc</c>, if sent.</summary>
    public int? MaxChunksPerDoc { get; init; }
}

/// <summary>One document of a <see cref="RerankRequest"/>: a string, or an object (e.g. <c>{"text": …, "title": …}</c>).</summary>
public sealed record RerankDocument
{
    /// <summary>The text: the string itself, or an object document's <c>text</c> field when it is a string.</summary>
    public string? Text { get; init; }

    /// <summary>The document exactly as sent (a JSON string or object).</summary>
    public JsonElement Raw { get; init; }
}

/// <summary>
/// The answer to a <see cref="RerankRequest"/>. Return a score for every document (or the best
/// <see cref="RerankRequest.TopN"/>) in any order: the host sorts by relevance, trims to <c>top_n</c>, and adds
/// each result's document when the client asked for documents.
/// </summary>
public sealed record RerankResponse
{
    /// <summary>The response's id; the host generates one when null.</summary>
    public string? Id { get; init; }

    /// <summary>The scores, one per ranked document.</summary>
    public required IReadOnlyList<RerankResult> Results { get; init; }

    /// <summary><c>meta</c> (e.g. <c>billed_units</c>), written as it is when set.</summary>
    public IReadOnlyDictionary<string, JsonElement>? Meta { get; init; }

    /// <summary>Extra top-level fields, written to the response as they are.</summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalProperties { get; init; }
}

/// <summary>One ranked document.</summary>
/// <param name="Index">The document's index in <see cref="RerankRequest.Documents"/>.</param>
/// <param name="RelevanceScore">How relevant it is to the query; higher is more relevant.</param>
public sealed record RerankResult(int Index, double RelevanceScore);
