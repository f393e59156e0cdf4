using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using PluginHost.Sdk;

namespace RouterHandlers;

/// <summary>
/// A deployment whose behaviour the test chooses, deterministically. The last user message (or, when it is
/// <c>default</c>, the deployment's <c>litellm_params.behaviour</c>) says what to do:
/// <list type="bullet">
/// <item><c>ok</c>: answer <c>NAME:ok</c>, where NAME is <c>litellm_params.name</c>;</item>
/// <item><c>fail:STATUS</c>: always throw that status;</item>
/// <item><c>fail-first:N:STATUS:KEY</c>: throw that status the first N times this deployment sees KEY, then answer;</item>
/// <item><c>rate-limited:SECONDS</c>, <c>context-window</c>, <c>content-policy</c>: the SDK's typed errors;</item>
/// <item><c>slow-first-chunk:MS</c>: wait before the first chunk (or the answer);</item>
/// <item><c>hang</c>: wait for cancellation.</item>
/// </list>
/// Streams send the answer in two chunks, <c>NAME:</c> and the rest.
/// </summary>
public sealed class Flaky : CustomLlm
{
    private static readonly ConcurrentDictionary<string, int> Seen = new(StringComparer.Ordinal);

    public override async Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        var (name, behaviour) = await BehaveAsync(request, cancellationToken);
        return ModelResponse.FromText($"{name}:{behaviour}", new Usage(10, 5));
    }

    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (name, behaviour) = await BehaveAsync(request, cancellationToken);
        yield return GenericStreamingChunk.FromText(name + ":");
        yield return GenericStreamingChunk.FromText(behaviour);
        yield return GenericStreamingChunk.Finished(FinishReason.Stop, new Usage(10, 5));
    }

    private static async Task<(string Name, string Behaviour)> BehaveAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        var settings = request.Deployment.LitellmParams;
        var name = settings.TryGetValue("name", out var n) ? n?.ToString() ?? "?" : "?";
        var said = request.Messages[^1].Content ?? "";
        var behaviour = said == "default" && settings.TryGetValue("behaviour", out var b) ? b?.ToString() ?? "ok" : said;
        var parts = behaviour.Split(':');
        switch (parts[0])
        {
            case "fail":
                throw new CustomLlmException(int.Parse(parts[1], CultureInfo.InvariantCulture), $"{name} failed with {parts[1]}");
            case "fail-first":
                var seen = Seen.AddOrUpdate($"{name}|{parts[3]}", 1, (_, count) => count + 1);
                if (seen <= int.Parse(parts[1], CultureInfo.InvariantCulture))
                {
                    throw new CustomLlmException(int.Parse(parts[2], CultureInfo.InvariantCulture), $"{name} failed with {parts[2]} ({seen})");
                }

                return (name, $"ok after {seen - 1}");
            case "rate-limited":
                throw CustomLlmException.RateLimited($"{name} is rate limited", TimeSpan.FromSeconds(double.Parse(parts[1], CultureInfo.InvariantCulture)));
            case "context-window":
                throw CustomLlmException.ContextWindowExceeded($"{name}: this model's maximum context length is 8 tokens");
            case "content-policy":
                throw CustomLlmException.ContentPolicyViolation($"{name}: refused by the safety system");
            case "slow-first-chunk":
                await Task.Delay(int.Parse(parts[1], CultureInfo.InvariantCulture), cancellationToken);
                return (name, "slow");
            case "hang":
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return (name, "never");
            default:
                return (name, behaviour);
        }
    }
}
