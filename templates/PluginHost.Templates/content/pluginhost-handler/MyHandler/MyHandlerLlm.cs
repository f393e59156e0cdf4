using PluginHost.Sdk;
#if (chatclient)
using PluginHost.Sdk.AI;
#endif

namespace MyHandler;

#if (chatclient)
/// <summary>
/// Serves a Microsoft.Extensions.AI chat client as a PluginHost model: chat, streaming and tool calls are
/// translated by <see cref="ChatClientLlm"/>. Replace <see cref="MyHandlerChatClient"/> with any IChatClient.
/// </summary>
public sealed class MyHandlerLlm() : ChatClientLlm(new MyHandlerChatClient());
#elif (streaming)
/// <summary>Streams its answer word by word; clients that do not stream get the words joined.</summary>
public sealed class MyHandlerLlm : CustomLlm
{
    /// <summary>What the handler answers.</summary>
    public const string Answer = "Hello from MyHandler!";

    /// <inheritdoc />
    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var words = Answer.Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            await Task.Delay(10, cancellationToken);
            yield return GenericStreamingChunk.FromText(i == 0 ? words[i] : " " + words[i]);
        }
    }
}
#else
/// <summary>Answers every request; streaming clients get the answer as one chunk.</summary>
public sealed class MyHandlerLlm : CustomLlm
{
    /// <summary>What the handler answers.</summary>
    public const string Answer = "Hello from MyHandler!";

    /// <inheritdoc />
    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(ModelResponse.FromText(Answer, new Usage(PromptTokens: 1, CompletionTokens: 4)));
}
#endif
