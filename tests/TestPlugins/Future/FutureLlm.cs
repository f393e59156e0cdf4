using PluginHost.Sdk;

namespace Future;

/// <summary>
/// A handler compiled against a later SDK build (tests/FutureSdk). Built with USES_NEW_MEMBER, it calls a member
/// only that SDK has, which this host's SDK lacks.
/// </summary>
public sealed class FutureLlm : CustomLlm
{
    /// <inheritdoc />
    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
#if USES_NEW_MEMBER
        Task.FromResult(ModelResponse.FromText("future: " + DescribeSdk()));
#else
        Task.FromResult(ModelResponse.FromText("future: only what every 1.x SDK has"));
#endif
}
