using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace PluginHost.Sdk.AI;

/// <summary>
/// A handler served by a <c>Microsoft.Extensions.AI</c> <see cref="IChatClient"/> (and, optionally, an
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> for <c>POST /embeddings</c>). Everything that speaks
/// <see cref="IChatClient"/> becomes a proxy model in one line:
/// <code>public sealed class MyLlm() : ChatClientLlm(new MyChatClient());</code>
/// Requests become <see cref="Microsoft.Extensions.AI.ChatMessage"/>s and <see cref="ChatOptions"/>, and responses and
/// streaming updates come back as OpenAI chat completions and chunks (text, reasoning, tool calls, usage),
/// see <see cref="ChatClientMapping"/>.
/// </summary>
/// <remarks>
/// A plugin built on the bridge carries <c>PluginHost.Sdk.AI.dll</c> and
/// <c>Microsoft.Extensions.AI.Abstractions.dll</c> in its own folder (reference this project or package
/// normally); only the core <c>PluginHost.Sdk</c> is the host's. The clients given to the constructor are
/// disposed with the handler, when the host unloads it.
/// </remarks>
public abstract class ChatClientLlm : CustomLlm, IDisposable
{
    private readonly IChatClient? _chatClient;
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _embeddingGenerator;

    /// <summary>Serves chat from <paramref name="chatClient"/> and embeddings from <paramref name="embeddingGenerator"/>.</summary>
    /// <param name="chatClient">The chat client; null to choose one per request in <see cref="GetChatClient"/>.</param>
    /// <param name="embeddingGenerator">The embedding generator, if the handler serves embeddings.</param>
    protected ChatClientLlm(IChatClient? chatClient, IEmbeddingGenerator<string, Embedding<float>>? embeddingGenerator = null)
    {
        _chatClient = chatClient;
        _embeddingGenerator = embeddingGenerator;
    }

    /// <summary>
    /// The chat client for <paramref name="request"/>: the constructor's by default. Override to pick one per
    /// deployment (from <see cref="Deployment.ApiBase"/>, <see cref="Deployment.LitellmParams"/>…).
    /// </summary>
    /// <exception cref="CustomLlmException">Status 500 <c>Not implemented yet!</c> when there is none.</exception>
    protected virtual IChatClient GetChatClient(ChatCompletionRequest request) => _chatClient ?? throw NotImplemented();

    /// <summary>The embedding generator for <paramref name="request"/>: the constructor's by default; null when embeddings are not served.</summary>
    protected virtual IEmbeddingGenerator<string, Embedding<float>>? GetEmbeddingGenerator(EmbeddingRequest request) => _embeddingGenerator;

    /// <summary>The options the client receives: <see cref="ChatClientMapping.ToChatOptions"/> unless overridden.</summary>
    protected virtual ChatOptions CreateChatOptions(ChatCompletionRequest request) => ChatClientMapping.ToChatOptions(request);

    /// <inheritdoc />
    public override async Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        var client = GetChatClient(request);
        var response = await client.GetResponseAsync(ChatClientMapping.ToChatMessages(request.Messages), CreateChatOptions(request), cancellationToken).ConfigureAwait(false);
        return ChatClientMapping.ToModelResponse(response);
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var client = GetChatClient(request);
        var stream = new ChatClientMapping.StreamState();
        var updates = client.GetStreamingResponseAsync(ChatClientMapping.ToChatMessages(request.Messages), CreateChatOptions(request), cancellationToken);
        await foreach (var update in updates.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            foreach (var chunk in stream.ToChunks(update))
            {
                yield return chunk;
            }
        }

        yield return stream.Finish();
    }

    /// <inheritdoc />
    public override async Task<EmbeddingResponse> EmbeddingAsync(EmbeddingRequest request, CancellationToken cancellationToken)
    {
        var generator = GetEmbeddingGenerator(request) ?? throw NotImplemented();
        var options = new EmbeddingGenerationOptions { ModelId = request.Model, Dimensions = request.Dimensions };
        foreach (var (name, value) in request.AdditionalProperties)
        {
            (options.AdditionalProperties ??= [])[name] = value;
        }

        var embeddings = await generator.GenerateAsync(request.GetTexts(), options, cancellationToken).ConfigureAwait(false);
        return new EmbeddingResponse
        {
            Data = [.. embeddings.Select((embedding, index) => new EmbeddingVector { Index = index, Vector = embedding.Vector })],
            Usage = embeddings.Usage is { } usage ? ChatClientMapping.ToUsage(usage) : null,
        };
    }

    /// <summary>Disposes the clients given to the constructor.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Disposes the clients given to the constructor when <paramref name="disposing"/>.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _chatClient?.Dispose();
            _embeddingGenerator?.Dispose();
        }
    }

    private static CustomLlmException NotImplemented() => new(500, "Not implemented yet!");
}
