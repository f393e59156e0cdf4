using System.Text;
using System.Text.Json;
using PluginHost.Sdk;

namespace SurfaceHandlers;

/// <summary>
/// A handler with a pass-through (<see cref="CompletionJsonAsync"/>), as a forwarder has: its raw answer carries what
/// a <see cref="ModelResponse"/> cannot (an upstream <c>id</c>, <c>service_tier</c>). The last message steers it:
/// <c>decline</c> takes the ordinary path, <c>null</c> then answers null there, <c>fail:STATUS</c> throws that status
/// from the pass-through.
/// </summary>
public sealed class PassThrough : CustomLlm
{
    public override Task<RawChatCompletion?> CompletionJsonAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        var said = request.Messages[^1].Content ?? "";
        if (said is "decline" or "null")
        {
            return Task.FromResult<RawChatCompletion?>(null);
        }

        if (said.StartsWith("fail:", StringComparison.Ordinal))
        {
            throw new CustomLlmException(int.Parse(said[5..], System.Globalization.CultureInfo.InvariantCulture), $"upstream said {said[5..]}");
        }

        var json = $$$"""{"id":"upstream-7","object":"chat.completion","created":1700000000,"model":"upstream-model","service_tier":"flex","choices":[{"index":0,"message":{"role":"assistant","content":{{{JsonSerializer.Serialize("raw: " + said)}}}},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}""";
        return Task.FromResult<RawChatCompletion?>(new RawChatCompletion { Json = Encoding.UTF8.GetBytes(json) });
    }

    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(request.Messages[^1].Content == "null" ? null! : ModelResponse.FromText("typed: " + request.Messages[^1].Content));
}
