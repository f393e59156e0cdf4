namespace PluginHost.Sdk;

// Which of the non-chat methods a handler overrides, found once per handler type on first use. Each family
// (embeddings, image generation, image edits, rerank, text completions) falls back within itself exactly as
// the four chat methods do; a family with no override answers 500 "Not implemented yet!", except text
// completions, which are served through the chat methods.
public abstract partial class CustomLlm
{
    private SurfaceOverrides? _surface;

    private SurfaceOverrides Surface => _surface ??= SurfaceOverrides.Of(GetType());

    private sealed class SurfaceOverrides
    {
        public bool Embedding { get; private init; }

        public bool EmbeddingAsync { get; private init; }

        public bool ImageGeneration { get; private init; }

        public bool ImageGenerationAsync { get; private init; }

        public bool ImageEdit { get; private init; }

        public bool ImageEditAsync { get; private init; }

        public bool Rerank { get; private init; }

        public bool RerankAsync { get; private init; }

        public bool TextCompletion { get; private init; }

        public bool TextCompletionStreaming { get; private init; }

        public bool TextCompletionAsync { get; private init; }

        public bool TextCompletionStreamingAsync { get; private init; }

        public bool AnyTextCompletion => TextCompletion || TextCompletionStreaming || TextCompletionAsync || TextCompletionStreamingAsync;

        // Reflection runs once per handler instance; nothing here caches the plugin's type.
        public static SurfaceOverrides Of(Type type) => new()
        {
            Embedding = IsOverridden(type, nameof(CustomLlm.Embedding), typeof(EmbeddingRequest)),
            EmbeddingAsync = IsOverridden(type, nameof(CustomLlm.EmbeddingAsync), typeof(EmbeddingRequest), typeof(CancellationToken)),
            ImageGeneration = IsOverridden(type, nameof(CustomLlm.ImageGeneration), typeof(ImageGenerationRequest)),
            ImageGenerationAsync = IsOverridden(type, nameof(CustomLlm.ImageGenerationAsync), typeof(ImageGenerationRequest), typeof(CancellationToken)),
            ImageEdit = IsOverridden(type, nameof(CustomLlm.ImageEdit), typeof(ImageEditRequest)),
            ImageEditAsync = IsOverridden(type, nameof(CustomLlm.ImageEditAsync), typeof(ImageEditRequest), typeof(CancellationToken)),
            Rerank = IsOverridden(type, nameof(CustomLlm.Rerank), typeof(RerankRequest)),
            RerankAsync = IsOverridden(type, nameof(CustomLlm.RerankAsync), typeof(RerankRequest), typeof(CancellationToken)),
            TextCompletion = IsOverridden(type, nameof(CustomLlm.TextCompletion), typeof(TextCompletionRequest)),
            TextCompletionStreaming = IsOverridden(type, nameof(CustomLlm.TextCompletionStreaming), typeof(TextCompletionRequest)),
            TextCompletionAsync = IsOverridden(type, nameof(CustomLlm.TextCompletionAsync), typeof(TextCompletionRequest), typeof(CancellationToken)),
            TextCompletionStreamingAsync = IsOverridden(type, nameof(CustomLlm.TextCompletionStreamingAsync), typeof(TextCompletionRequest), typeof(CancellationToken)),
        };

        private static bool IsOverridden(Type type, string name, params Type[] args) =>
            type.GetMethod(name, args)?.DeclaringType is { } declaring && declaring != typeof(CustomLlm);
    }
}
