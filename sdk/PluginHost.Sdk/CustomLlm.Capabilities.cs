namespace PluginHost.Sdk;

/// <summary>The endpoints a handler can serve, from the methods it overrides (see <see cref="CustomLlm.Capabilities"/>).</summary>
[Flags]
public enum HandlerCapabilities
{
    /// <summary>No endpoint: the handler overrides none of <see cref="CustomLlm"/>'s methods.</summary>
    None = 0,

    /// <summary><c>POST /chat/completions</c>, plain and streamed: any one of the four chat methods.</summary>
    ChatCompletions = 1 << 0,

    /// <summary><c>POST /completions</c>: a text completion method, or any chat method (prompts become user messages).</summary>
    TextCompletions = 1 << 1,

    /// <summary><c>POST /embeddings</c>: <see cref="CustomLlm.Embedding"/> or <see cref="CustomLlm.EmbeddingAsync"/>.</summary>
    Embeddings = 1 << 2,

    /// <summary><c>POST /images/generations</c>: <see cref="CustomLlm.ImageGeneration"/> or <see cref="CustomLlm.ImageGenerationAsync"/>.</summary>
    ImageGenerations = 1 << 3,

    /// <summary><c>POST /images/edits</c>: <see cref="CustomLlm.ImageEdit"/> or <see cref="CustomLlm.ImageEditAsync"/>.</summary>
    ImageEdits = 1 << 4,

    /// <summary><c>POST /rerank</c>: <see cref="CustomLlm.Rerank"/> or <see cref="CustomLlm.RerankAsync"/>.</summary>
    Rerank = 1 << 5,
}

// The one override detector: which virtual methods the handler's type overrides, found once when the host
// creates the handler (one instance per handler type per loaded version). Every family of methods falls back
// within itself by it, and the host reads Capabilities from it to refuse what a handler cannot serve.
public abstract partial class CustomLlm
{
    private static readonly (string Name, Type Request, Method Method)[] Virtuals =
    [
        (nameof(Completion), typeof(ChatCompletionRequest), Method.Completion),
        (nameof(Streaming), typeof(ChatCompletionRequest), Method.Streaming),
        (nameof(CompletionAsync), typeof(ChatCompletionRequest), Method.CompletionAsync),
        (nameof(StreamingAsync), typeof(ChatCompletionRequest), Method.StreamingAsync),
        (nameof(TextCompletion), typeof(TextCompletionRequest), Method.TextCompletion),
        (nameof(TextCompletionStreaming), typeof(TextCompletionRequest), Method.TextCompletionStreaming),
        (nameof(TextCompletionAsync), typeof(TextCompletionRequest), Method.TextCompletionAsync),
        (nameof(TextCompletionStreamingAsync), typeof(TextCompletionRequest), Method.TextCompletionStreamingAsync),
        (nameof(Embedding), typeof(EmbeddingRequest), Method.Embedding),
        (nameof(EmbeddingAsync), typeof(EmbeddingRequest), Method.EmbeddingAsync),
        (nameof(ImageGeneration), typeof(ImageGenerationRequest), Method.ImageGeneration),
        (nameof(ImageGenerationAsync), typeof(ImageGenerationRequest), Method.ImageGenerationAsync),
        (nameof(ImageEdit), typeof(ImageEditRequest), Method.ImageEdit),
        (nameof(ImageEditAsync), typeof(ImageEditRequest), Method.ImageEditAsync),
        (nameof(Rerank), typeof(RerankRequest), Method.Rerank),
        (nameof(RerankAsync), typeof(RerankRequest), Method.RerankAsync),
    ];

    private readonly Method _overridden;

    [Flags]
    private enum Method
    {
        Completion = 1 << 0,
        Streaming = 1 << 1,
        CompletionAsync = 1 << 2,
        StreamingAsync = 1 << 3,
        TextCompletion = 1 << 4,
        TextCompletionStreaming = 1 << 5,
        TextCompletionAsync = 1 << 6,
        TextCompletionStreamingAsync = 1 << 7,
        Embedding = 1 << 8,
        EmbeddingAsync = 1 << 9,
        ImageGeneration = 1 << 10,
        ImageGenerationAsync = 1 << 11,
        ImageEdit = 1 << 12,
        ImageEditAsync = 1 << 13,
        Rerank = 1 << 14,
        RerankAsync = 1 << 15,
        AnyChat = Completion | Streaming | CompletionAsync | StreamingAsync,
        AnyText = TextCompletion | TextCompletionStreaming | TextCompletionAsync | TextCompletionStreamingAsync,
    }

    /// <summary>
    /// The endpoints this handler serves, from the methods its type overrides. The host refuses a request for
    /// anything else with LiteLLM's 500 <c>Not implemented yet!</c> without calling the handler, and lists
    /// the capabilities of each model in <c>/models</c>.
    /// </summary>
    public HandlerCapabilities Capabilities { get; }

    private bool Overrides(Method method) => (_overridden & method) != 0;

    // Reflection over the handler's type, once per instance; nothing here keeps the (collectible) type.
    private static Method OverridesOf(Type type)
    {
        var overridden = (Method)0;
        foreach (var (name, request, method) in Virtuals)
        {
            Type[] args = name.EndsWith("Async", StringComparison.Ordinal) ? [request, typeof(CancellationToken)] : [request];
            if (type.GetMethod(name, args)?.DeclaringType is { } declaring && declaring != typeof(CustomLlm))
            {
                overridden |= method;
            }
        }

        return overridden;
    }

    private static HandlerCapabilities CapabilitiesOf(Method overridden)
    {
        var capabilities = HandlerCapabilities.None;
        Add(Method.AnyChat, HandlerCapabilities.ChatCompletions | HandlerCapabilities.TextCompletions);
        Add(Method.AnyText, HandlerCapabilities.TextCompletions);
        Add(Method.Embedding | Method.EmbeddingAsync, HandlerCapabilities.Embeddings);
        Add(Method.ImageGeneration | Method.ImageGenerationAsync, HandlerCapabilities.ImageGenerations);
        Add(Method.ImageEdit | Method.ImageEditAsync, HandlerCapabilities.ImageEdits);
        Add(Method.Rerank | Method.RerankAsync, HandlerCapabilities.Rerank);
        return capabilities;

        void Add(Method methods, HandlerCapabilities capability)
        {
            if ((overridden & methods) != 0)
            {
                capabilities |= capability;
            }
        }
    }
}
