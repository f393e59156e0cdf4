using Microsoft.AspNetCore.Diagnostics;
using PluginHost.Anthropic;
using PluginHost.Routing;
using PluginHost.Sdk;
using PluginHost.Telemetry;

namespace PluginHost.OpenAi;

/// <summary>Maps the OpenAI-compatible routes and Anthropic's <c>/v1/messages</c>, each with and without the <c>/v1</c> prefix.</summary>
internal static class OpenAiApi
{
    private static readonly (HandlerCapabilities Capability, string Path)[] Endpoints =
    [
        (HandlerCapabilities.ChatCompletions, "/v1/chat/completions"),
        (HandlerCapabilities.ChatCompletions, "/v1/responses"),
        (HandlerCapabilities.ChatCompletions, "/v1/messages"),
        (HandlerCapabilities.TextCompletions, "/v1/completions"),
        (HandlerCapabilities.Embeddings, "/v1/embeddings"),
        (HandlerCapabilities.ImageGenerations, "/v1/images/generations"),
        (HandlerCapabilities.ImageEdits, "/v1/images/edits"),
        (HandlerCapabilities.Rerank, "/v1/rerank"),
    ];

    public static WebApplication MapOpenAiApi(this WebApplication app)
    {
        // First, so the access log sees the status the client got, whoever answered.
        app.UseMiddleware<AccessLogMiddleware>();
        app.UseMiddleware<ErrorHandlingMiddleware>();
        app.UseStatusCodePages(WriteStatusCodeError);
        app.UseMiddleware<ApiKeyMiddleware>();

        var runtime = app.Services.GetRequiredService<ProxyRuntime>();
        var router = app.Services.GetRequiredService<Router>();
        foreach (var prefix in new[] { "", "/v1" })
        {
            var api = app.MapGroup(prefix);
            api.MapPost("/chat/completions", RequestPipeline.For<ChatCompletionsEndpoint, ChatCompletionRequest, ChatAnswer>(runtime, router));
            api.MapPost("/completions", RequestPipeline.For<TextCompletionsEndpoint, TextCompletionRequest, TextCompletionResponse>(runtime, router));
            api.MapPost("/embeddings", RequestPipeline.For<EmbeddingsEndpoint, EmbeddingRequest, EmbeddingResponse>(runtime, router));
            api.MapPost("/images/generations", RequestPipeline.For<ImageGenerationsEndpoint, ImageGenerationRequest, ImageResponse>(runtime, router));
            api.MapPost("/images/edits", RequestPipeline.For<ImageEditsEndpoint, ImageEditRequest, ImageResponse>(runtime, router));
            api.MapPost("/rerank", RequestPipeline.For<RerankEndpoint, RerankRequest, RerankResponse>(runtime, router));
            api.MapPost("/responses", RequestPipeline.For<ResponsesEndpoint, ResponsesRequest, ModelResponse>(runtime, router));
            api.MapGet("/responses/{id}", context => ResponsesEndpoint.GetAsync(context, RouteValue(context, "id")));
            api.MapPost("/messages", RequestPipeline.For<MessagesEndpoint, ChatCompletionRequest, ModelResponse>(runtime, router))
                .WithMetadata(AnthropicShape.Instance);
            api.MapGet("/models", Answer(_ => StatusEndpoints.ListModels(runtime)));
            api.MapGet("/models/{**model}", Answer(context => StatusEndpoints.GetModel(RouteValue(context, "model"), runtime)));
        }

        // Probes and status JSON: in the access log, not in the status page's request charts.
        app.MapGet("/health/liveliness", Answer(_ => StatusEndpoints.Liveliness())).WithMetadata(RequestHistory.NotCounted.Instance);
        app.MapGet("/health/liveness", Answer(_ => StatusEndpoints.Liveliness())).WithMetadata(RequestHistory.NotCounted.Instance);
        app.MapGet("/health/readiness", Answer(_ => StatusEndpoints.Readiness(runtime, router))).WithMetadata(RequestHistory.NotCounted.Instance);
        app.MapGet("/plugins", Answer(_ => StatusEndpoints.Plugins(runtime))).WithMetadata(RequestHistory.NotCounted.Instance);
        app.MapGet("/router", Answer(_ => StatusEndpoints.RouterStatus(runtime, router))).WithMetadata(RequestHistory.NotCounted.Instance);
        return app;
    }

    /// <summary>
    /// A read-only endpoint as a plain request delegate, its result written with the source-generated JSON it names.
    /// Minimal-API binding would build ASP.NET Core's reflection-based JSON options at the first request, whatever
    /// endpoint it is for (BENCHMARKS.md row 7).
    /// </summary>
    internal static RequestDelegate Answer(Func<HttpContext, IResult> endpoint) => context => endpoint(context).ExecuteAsync(context);

    /// <summary>A route parameter's value; empty for a catch-all that matched nothing.</summary>
    private static string RouteValue(HttpContext context, string name) => context.Request.RouteValues[name] as string ?? "";

    /// <summary>The handler endpoints a handler with <paramref name="capabilities"/> serves, as LiteLLM lists them (<c>/v1/…</c>).</summary>
    public static IReadOnlyList<string> EndpointsFor(HandlerCapabilities capabilities)
    {
        var endpoints = new List<string>(6);
        foreach (var (capability, path) in Endpoints)
        {
            if ((capabilities & capability) != 0)
            {
                endpoints.Add(path);
            }
        }

        return endpoints;
    }

    /// <summary>Bodiless 404/405 from routing become OpenAI errors.</summary>
    private static Task WriteStatusCodeError(StatusCodeContext status)
    {
        var context = status.HttpContext;
        var request = context.Request;
        var error = context.Response.StatusCode switch
        {
            404 => new OpenAiException(404, $"Invalid URL ({request.Method} {request.Path}).", code: "unknown_url"),
            405 => new OpenAiException(405, $"Method {request.Method} is not allowed for {request.Path}.", code: "method_not_allowed"),
            var code => new OpenAiException(code, $"HTTP {code}."),
        };
        return ErrorWriter.WriteAsync(context, error);
    }
}
