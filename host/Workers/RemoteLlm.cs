using PluginHost.Sdk;

namespace PluginHost.Workers;

/// <summary>
/// The proxy's stand-in for a handler that runs in a worker process: the pipeline calls it exactly as it calls an
/// in-process handler (same methods, same cancellation), and each call crosses the worker's socket as the SDK's own
/// request and response records. What it serves is what the real handler serves (<see cref="Served"/>), as the worker
/// reported when it created it.
/// </summary>
/// <param name="worker">The worker running the real handler.</param>
/// <param name="type">The real handler's type, by full name.</param>
/// <param name="served">The real handler's <see cref="CustomLlm.Capabilities"/>.</param>
internal sealed class RemoteLlm(PluginWorker worker, string type, HandlerCapabilities served) : CustomLlm
{
    /// <summary>What the real handler serves (this class overrides every method, so its own <see cref="CustomLlm.Capabilities"/> says everything).</summary>
    public HandlerCapabilities Served { get; } = served;

    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(type, "chat", request, WorkerJson.Default.ChatCompletionRequest, WorkerJson.Default.ModelResponse, cancellationToken);

    public override IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        worker.StreamAsync(type, "chat", request, WorkerJson.Default.ChatCompletionRequest, cancellationToken);

    public override Task<TextCompletionResponse> TextCompletionAsync(TextCompletionRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(type, "text", request, WorkerJson.Default.TextCompletionRequest, WorkerJson.Default.TextCompletionResponse, cancellationToken);

    public override IAsyncEnumerable<GenericStreamingChunk> TextCompletionStreamingAsync(TextCompletionRequest request, CancellationToken cancellationToken) =>
        worker.StreamAsync(type, "text", request, WorkerJson.Default.TextCompletionRequest, cancellationToken);

    public override Task<EmbeddingResponse> EmbeddingAsync(EmbeddingRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(type, "embedding", request, WorkerJson.Default.EmbeddingRequest, WorkerJson.Default.EmbeddingResponse, cancellationToken);

    public override Task<ImageResponse> ImageGenerationAsync(ImageGenerationRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(type, "image_generation", request, WorkerJson.Default.ImageGenerationRequest, WorkerJson.Default.ImageResponse, cancellationToken);

    public override Task<ImageResponse> ImageEditAsync(ImageEditRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(type, "image_edit", request, WorkerJson.Default.ImageEditRequest, WorkerJson.Default.ImageResponse, cancellationToken);

    public override Task<RerankResponse> RerankAsync(RerankRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(type, "rerank", request, WorkerJson.Default.RerankRequest, WorkerJson.Default.RerankResponse, cancellationToken);
}
