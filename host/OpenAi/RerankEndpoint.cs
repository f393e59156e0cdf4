using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// <c>POST /rerank</c>: Cohere's rerank request and response as LiteLLM serves them. The host orders the
/// handler's scores (most relevant first), trims them to <c>top_n</c>, and adds each result's document
/// (<c>{"text": …}</c> for string documents, the object as sent otherwise) unless <c>return_documents</c> is false.
/// </summary>
internal sealed class RerankEndpoint : IHandlerEndpoint<RerankRequest, RerankResponse>
{
    public static HandlerCapabilities Capability => HandlerCapabilities.Rerank;

    public static string Operation => "rerank";

    public static Task<RerankResponse> InvokeAsync(CustomLlm handler, RerankRequest request, CancellationToken cancellationToken) =>
        handler.RerankAsync(request, cancellationToken);

    public static RerankRequest Read(JsonElement root, RequestTarget target, RequestLimits limits)
    {
        string? query = null;
        List<RerankDocument>? documents = null;
        int? topN = null, maxChunksPerDoc = null;
        bool? returnDocuments = null;
        List<string>? rankFields = null;
        var extra = new ExtraFields();
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model":
                    break;
                case "query":
                    query = RequestFields.RequiredString(value, "query");
                    break;
                case "documents":
                    documents = ReadDocuments(value, limits);
                    break;
                case "top_n":
                    topN = RequestFields.Integer(value, "top_n", 1);
                    break;
                case "return_documents":
                    returnDocuments = RequestFields.Boolean(value, "return_documents");
                    break;
                case "rank_fields":
                    rankFields = RequestFields.Strings(value, "rank_fields");
                    break;
                case "max_chunks_per_doc":
                    maxChunksPerDoc = RequestFields.Integer(value, "max_chunks_per_doc", 1);
                    break;
                default:
                    extra.Add(property);
                    break;
            }
        }

        return new RerankRequest
        {
            Query = query ?? throw RequestFields.Missing("query"),
            Model = target.Deployment.ProviderModel,
            RequestedModel = target.RequestedModel,
            Deployment = target.Deployment.Settings,
            AdditionalProperties = extra.ToReadOnly(),
            Documents = documents ?? throw RequestFields.Missing("documents"),
            TopN = topN,
            ReturnDocuments = returnDocuments ?? true,
            RankFields = rankFields,
            MaxChunksPerDoc = maxChunksPerDoc,
        };
    }

    private static List<RerankDocument> ReadDocuments(JsonElement value, RequestLimits limits)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw RequestFields.InvalidType("documents", "an array of strings or objects", value);
        }

        if (value.GetArrayLength() == 0)
        {
            throw OpenAiException.BadRequest("Invalid 'documents': empty array. Expected an array with minimum length 1.", "documents", "empty_array");
        }

        RequestFields.AtMost(value.GetArrayLength(), limits.MaxRerankDocuments, "documents", "documents", "max_rerank_documents");
        var documents = new List<RerankDocument>(value.GetArrayLength());
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            var text = item.ValueKind switch
            {
                JsonValueKind.String => item.GetString(),
                JsonValueKind.Object => item.TryGetProperty("text", out var field) && field.ValueKind == JsonValueKind.String ? field.GetString() : null,
                _ => throw RequestFields.InvalidType($"documents[{index}]", "a string or an object", item),
            };
            documents.Add(new RerankDocument { Text = text, Raw = item.Clone() });
            index++;
        }

        return documents;
    }

    /// <summary>The handler's results, most relevant first (ties by document order), trimmed to <c>top_n</c>.</summary>
    private static List<RerankResult> Rank(RerankRequest request, RerankResponse response)
    {
        var results = ResponseJson.Required(response.Results, "RerankResponse.Results");
        var ranked = new bool[request.Documents.Count];
        for (var i = 0; i < results.Count; i++)
        {
            var result = ResponseJson.Item(results[i], "RerankResponse.Results", i);
            if (result.Index < 0 || result.Index >= request.Documents.Count)
            {
                throw new InvalidAnswerException($"a result refers to document {result.Index}, but the request has {request.Documents.Count} documents.");
            }

            if (ranked[result.Index])
            {
                throw new InvalidAnswerException($"document {result.Index} has more than one result.");
            }

            ranked[result.Index] = true;
            if (!double.IsFinite(result.RelevanceScore))
            {
                throw new InvalidAnswerException($"document {result.Index} has the score {result.RelevanceScore}, which JSON cannot carry.");
            }
        }

        var order = results.OrderByDescending(r => r.RelevanceScore).ThenBy(r => r.Index);
        return [.. request.TopN is { } top ? order.Take(top) : order];
    }

    public static void Write(Utf8JsonWriter writer, RerankRequest request, RerankResponse response)
    {
        var results = Rank(request, response);
        writer.WriteStartObject();
        writer.WriteString("id"u8, response.Id ?? Guid.NewGuid().ToString());
        writer.WriteStartArray("results"u8);
        foreach (var result in results)
        {
            writer.WriteStartObject();
            writer.WriteNumber("index"u8, result.Index);
            writer.WriteNumber("relevance_score"u8, result.RelevanceScore);
            if (request.ReturnDocuments)
            {
                var document = request.Documents[result.Index];
                writer.WritePropertyName("document"u8);
                if (document.Raw.ValueKind == JsonValueKind.Object)
                {
                    document.Raw.WriteTo(writer);
                }
                else
                {
                    writer.WriteStartObject();
                    writer.WriteString("text"u8, document.Text);
                    writer.WriteEndObject();
                }
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        if (response.Meta is { } meta)
        {
            writer.WriteStartObject("meta"u8);
            ResponseJson.WriteExtraFields(writer, meta);
            writer.WriteEndObject();
        }

        ResponseJson.WriteExtraFields(writer, response.AdditionalProperties);
        writer.WriteEndObject();
    }
}
