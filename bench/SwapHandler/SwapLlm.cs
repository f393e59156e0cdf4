using PluginHost.Sdk;

namespace SwapHandler;

/// <summary>Answers with its own assembly version, so a client can see which build served it.</summary>
public sealed class SwapLlm : CustomLlm
{
    private static readonly string Answer = "swap v" + (typeof(SwapLlm).Assembly.GetName().Version?.Major ?? 0);

    /// <inheritdoc />
    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(ModelResponse.FromText(Answer, new Usage(PromptTokens: 1, CompletionTokens: 2)));
}
