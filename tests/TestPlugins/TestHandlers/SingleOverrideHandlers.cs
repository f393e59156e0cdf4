using System.Runtime.CompilerServices;
using PluginHost.Sdk;

namespace TestHandlers;

// One handler per single override of the four chat methods, plus none: each must serve both modes.

/// <summary>Overrides only the synchronous Completion.</summary>
public sealed class CompletionOnly : CustomLlm
{
    public override ModelResponse Completion(ChatCompletionRequest request) =>
        ModelResponse.FromText("completion:" + request.Messages[^1].Content, new Usage(3, 4));
}

/// <summary>Overrides only CompletionAsync.</summary>
public sealed class CompletionAsyncOnly : CustomLlm
{
    public override async Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return ModelResponse.FromText("acompletion:" + request.Messages[^1].Content, new Usage(3, 4));
    }
}

/// <summary>Overrides only the synchronous Streaming.</summary>
public sealed class StreamingOnly : CustomLlm
{
    public override IEnumerable<GenericStreamingChunk> Streaming(ChatCompletionRequest request)
    {
        yield return GenericStreamingChunk.FromText("streaming:");
        yield return GenericStreamingChunk.FromText(request.Messages[^1].Content ?? "");
        yield return GenericStreamingChunk.Finished(FinishReason.Length, new Usage(3, 2));
    }
}

/// <summary>Overrides only StreamingAsync.</summary>
public sealed class StreamingAsyncOnly : CustomLlm
{
    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        yield return GenericStreamingChunk.FromText("astreaming:");
        await Task.Yield();
        yield return GenericStreamingChunk.FromText(request.Messages[^1].Content ?? "");
        yield return GenericStreamingChunk.Finished(FinishReason.Stop, new Usage(3, 2));
    }
}

/// <summary>Overrides nothing: every request gets 500 "Not implemented yet!".</summary>
public sealed class NoOverrides : CustomLlm;
