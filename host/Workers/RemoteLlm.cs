using PluginHost.Sdk;

namespace PluginHost.Workers;

/// <summary>
/// The proxy's stand-in for a handler that runs in a worker process: the pipeline calls it exactly as it calls an
/// in-process handler (same methods, same cancellation), and each call crosses the worker's socket as the SDK's own
/// request and response records. What it serves is what the real handler serves (<see cref="Served"/>), as the worker
/// reported when it created it.
/// </summary>
/// <param name="worker">The worker running the real handler.</param>
/// <param name="handler">The real handler as the worker created it: its type, what it serves, whether it passes answers through.</param>
internal sealed class RemoteLlm(PluginWorker worker, WorkerHandler handler) : CustomLlm
{

    /// <summary>What the real handler serves (this class overrides every method, so its own <see cref="CustomLlm.Capabilities"/> says everything).</summary>
    public HandlerCapabilities Served { get; } = handler.Capabilities;

    /// <summary>
    /// For a real handler with a pass-through of its own: one call that brings back <c>chat.completion</c> bytes, its
    /// raw answer or its <see cref="ModelResponse"/> written in the worker, checked and copied here as in process.
    /// Otherwise null at once, and the pipeline calls <see cref="CompletionAsync"/>.
    /// </summary>
    public override Task<RawChatCompletion?> CompletionJsonAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        handler.PassThrough ? PassThroughAsync(request, cancellationToken) : base.CompletionJsonAsync(request, cancellationToken);

    private async Task<RawChatCompletion?> PassThroughAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        var json = await worker.CallForBytesAsync(handler.Type, "chat_json", request, WorkerJson.Default.ChatCompletionRequest, cancellationToken).ConfigureAwait(false);

        // The worker's word for a handler whose CompletionAsync returned null, reported in the pipeline's own words.
        return json.AsSpan().SequenceEqual("null"u8)
            ? throw new InvalidOperationException($"it returned null instead of a {nameof(ModelResponse)}.")
            : new RawChatCompletion { Json = json };
    }

    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(handler.Type, "chat", request, WorkerJson.Default.ChatCompletionRequest, WorkerJson.Default.ModelResponse, cancellationToken);

    public override IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        worker.StreamAsync(handler.Type, "chat", request, WorkerJson.Default.ChatCompletionRequest, cancellationToken);

    public override Task<TextCompletionResponse> TextCompletionAsync(TextCompletionRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(handler.Type, "text", request, WorkerJson.Default.TextCompletionRequest, WorkerJson.Default.TextCompletionResponse, cancellationToken);

    public override IAsyncEnumerable<GenericStreamingChunk> TextCompletionStreamingAsync(TextCompletionRequest request, CancellationToken cancellationToken) =>
        worker.StreamAsync(handler.Type, "text", request, WorkerJson.Default.TextCompletionRequest, cancellationToken);

    public override Task<EmbeddingResponse> EmbeddingAsync(EmbeddingRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(handler.Type, "embedding", request, WorkerJson.Default.EmbeddingRequest, WorkerJson.Default.EmbeddingResponse, cancellationToken);

    public override Task<ImageResponse> ImageGenerationAsync(ImageGenerationRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(handler.Type, "image_generation", request, WorkerJson.Default.ImageGenerationRequest, WorkerJson.Default.ImageResponse, cancellationToken);

    public override Task<ImageResponse> ImageEditAsync(ImageEditRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(handler.Type, "image_edit", request, WorkerJson.Default.ImageEditRequest, WorkerJson.Default.ImageResponse, cancellationToken);

    public override Task<RerankResponse> RerankAsync(RerankRequest request, CancellationToken cancellationToken) =>
        worker.CallAsync(handler.Type, "rerank", request, WorkerJson.Default.RerankRequest, WorkerJson.Default.RerankResponse, cancellationToken);
}
