using PluginHost.Sdk;

namespace HiHandler;

/// <summary>
/// The reference page's handler in C#: answers every request with "Hi!". Overriding
/// <see cref="CustomLlm.CompletionAsync"/> alone is enough: streaming clients get the answer as one chunk.
/// </summary>
public sealed class MyCustomLlm : CustomLlm
{
    /// <inheritdoc />
    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(ModelResponse.FromText("Hi!", new Usage(PromptTokens: 10, CompletionTokens: 20)));
}
