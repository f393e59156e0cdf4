using PluginHost.Sdk;

namespace SurfaceHandlers;

/// <summary>
/// Answers every endpoint with a response that cannot be written: a null where the contract needs a value,
/// after valid items (so a writer that streams its output would already have sent part of a body).
/// </summary>
public sealed class BadAnswers : CustomLlm
{
    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(new ModelResponse { Choices = [.. ModelResponse.FromText("fine").Choices, new Choice { Message = null! }] });

    public override Task<TextCompletionResponse> TextCompletionAsync(TextCompletionRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(new TextCompletionResponse { Choices = [.. TextCompletionResponse.FromText("fine").Choices, null!] });

    public override Task<EmbeddingResponse> EmbeddingAsync(EmbeddingRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(new EmbeddingResponse { Data = [.. EmbeddingResponse.FromVectors([new[] { 1f, 2f }]).Data, null!] });

    public override Task<ImageResponse> ImageGenerationAsync(ImageGenerationRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(new ImageResponse { Data = [ImageData.FromUrl("https://images.example/0.png"), null!] });

    public override Task<ImageResponse> ImageEditAsync(ImageEditRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(new ImageResponse { Data = [ImageData.FromUrl("https://images.example/0.png"), null!] });

    public override Task<RerankResponse> RerankAsync(RerankRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(new RerankResponse { Results = [new RerankResult(0, 1), null!] });
}

/// <summary>Serves embeddings only: every other endpoint must be refused without entering it.</summary>
public sealed class EmbeddingsOnly : CustomLlm
{
    public override EmbeddingResponse Embedding(EmbeddingRequest request) =>
        EmbeddingResponse.FromVectors(request.Input.Select(_ => new[] { 1f }));
}
