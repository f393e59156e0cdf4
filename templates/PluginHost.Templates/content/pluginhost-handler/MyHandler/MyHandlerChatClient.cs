using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace MyHandler;

/// <summary>A small local IChatClient; any Microsoft.Extensions.AI client (OpenAI, Ollama, Azure…) fits here.</summary>
public sealed class MyHandlerChatClient : IChatClient
{
    /// <summary>What the client answers.</summary>
    public const string Answer = "Hello from MyHandler!";

    /// <inheritdoc />
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, Answer)));

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, Answer);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
