using System.Runtime.CompilerServices;
using PluginHost.Sdk;

namespace SurfaceHandlers;

/// <summary>Overrides only the synchronous method of each family: the host's async calls must fall back to them.</summary>
public sealed class SyncOnly : CustomLlm
{
    public override EmbeddingResponse Embedding(EmbeddingRequest request) =>
        EmbeddingResponse.FromVectors(request.Input.Select(_ => new[] { 0.5f, -0.5f }));

    public override ImageResponse ImageGeneration(ImageGenerationRequest request) =>
        new() { Data = [ImageData.FromUrl("https://images.example/sync.png")] };

    public override ImageResponse ImageEdit(ImageEditRequest request) =>
        new() { Data = [ImageData.FromUrl("https://images.example/sync-edit.png")] };

    public override RerankResponse Rerank(RerankRequest request) =>
        new() { Results = [.. request.Documents.Select((_, i) => new RerankResult(i, i))] };

    public override TextCompletionResponse TextCompletion(TextCompletionRequest request) =>
        TextCompletionResponse.FromText("sync:" + request.Prompt[0], new Usage(1, 1));
}

/// <summary>
/// Overrides only <see cref="CustomLlm.TextCompletionStreamingAsync"/> (and no chat method): text completions
/// must not go through chat, and clients that do not stream get the pieces aggregated.
/// </summary>
public sealed class TextStreamingOnly : CustomLlm
{
    public override async IAsyncEnumerable<GenericStreamingChunk> TextCompletionStreamingAsync(TextCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 0; i < request.Prompt.Count; i++)
        {
            await Task.Yield();
            yield return new GenericStreamingChunk { Index = i, Text = "text:" };
            yield return new GenericStreamingChunk { Index = i, Text = request.Prompt[i] };
            yield return new GenericStreamingChunk { Index = i, IsFinished = true, FinishReason = FinishReason.Length };
        }

        yield return new GenericStreamingChunk { Usage = new Usage(4, 6) };
    }
}
