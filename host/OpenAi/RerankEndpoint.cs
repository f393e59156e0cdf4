using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// <c>POST /rerank</c>: Cohere's rerank request and response as LiteLLM serves them. The host orders the
/// handler's scores (most relevant first), trims them to <c>top_n</c>, and adds each result's document
/// (<c>{"text": …}</c> for string documents, the object as sent otherwise) unless <c>return_documents</c> is false.
/// </summary>
internal static class RerankEndpoint
{
    public static async Task HandleAsync(HttpContext context, ProxyRuntime runtime)
    {
        using var call = await JsonApiCall.BeginAsync(context, runtime);
        var binding = call.Binding;
        var request = Read(call.Root, call.Model, call.Deployment);
        using var deadline = Deadline.Start(context.RequestAborted, request.Timeout);
        var response = await HandlerCall.InvokeAsync(binding, deadline, nameof(CustomLlm.RerankAsync), (handler, token) => handler.RerankAsync(request, token));
        var results = Rank(binding, request, response);
        await HandlerCall.WriteJsonAsync(context, writer => Write(writer, request, response, results));
    }

    public static RerankRequest Read(JsonElement root, string requestedModel, ModelDeployment deployment)
    {
        string? query = null;
        List<RerankDocument>? documents = null;
        int? topN = null, maxChunksPerDoc = null;
        bool? returnDocuments = null;
        List<string>? rankFields = null;
        Dictionary<string, JsonElement>? additional = null;
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
                    documents = ReadDocuments(value);
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
                    (additional ??= new Dictionary<string, JsonElement>(StringComparer.Ordinal))[property.Name] = value.Clone();
                    break;
            }
        }

        return new RerankRequest
        {
            Model = deployment.ProviderModel,
            RequestedModel = requestedModel,
            Query = query ?? throw RequestFields.Missing("query"),
            Documents = documents ?? throw RequestFields.Missing("documents"),
            TopN = topN,
            ReturnDocuments = returnDocuments ?? true,
            RankFields = rankFields,
            MaxChunksPerDoc = maxChunksPerDoc,
            AdditionalProperties = (IReadOnlyDictionary<string, JsonElement>?)additional ?? ChatCompletionRequestDefaults.Empty,
            ApiBase = deployment.ApiBase,
            ApiKey = deployment.ApiKey,
            LitellmParams = deployment.ExtraParams,
            Timeout = deployment.Timeout,
        };
    }

    private static List<RerankDocument> ReadDocuments(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw RequestFields.InvalidType("documents", "an array of strings or objects", value);
        }

        if (value.GetArrayLength() == 0)
        {
            throw OpenAiException.BadRequest("Invalid 'documents': empty array. Expected an array with minimum length 1.", "documents", "empty_array");
        }

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
    private static List<RerankResult> Rank(HandlerBinding binding, RerankRequest request, RerankResponse response)
    {
        if (response.Results is null)
        {
            throw HandlerCall.BadAnswer(binding, "RerankResponse.Results is null.");
        }

        foreach (var result in response.Results)
        {
            if (result is null || result.Index < 0 || result.Index >= request.Documents.Count)
            {
                throw HandlerCall.BadAnswer(binding, $"a result refers to document {result?.Index}, but the request has {request.Documents.Count} documents.");
            }

            if (!double.IsFinite(result.RelevanceScore))
            {
                throw HandlerCall.BadAnswer(binding, $"document {result.Index} has the score {result.RelevanceScore}, which JSON cannot carry.");
            }
        }

        var ranked = response.Results.OrderByDescending(r => r.RelevanceScore).ThenBy(r => r.Index);
        return [.. request.TopN is { } top ? ranked.Take(top) : ranked];
    }

    public static void Write(Utf8JsonWriter writer, RerankRequest request, RerankResponse response, IReadOnlyList<RerankResult> results)
    {
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
            HandlerCall.WriteExtraFields(writer, meta);
            writer.WriteEndObject();
        }

        HandlerCall.WriteExtraFields(writer, response.AdditionalProperties);
        writer.WriteEndObject();
    }
}
