using System.Runtime.CompilerServices;
using PluginHost.Sdk;

namespace EchoHandler;

/// <summary>
/// Answers with the last user message. Streams it word by word; set <c>delay_ms</c> in the deployment's
/// <c>litellm_params</c> to pause between words (handy for testing slow streams and cancellation).
/// Only <see cref="StreamingAsync"/> is overridden: clients that do not stream get the words aggregated.
/// </summary>
public sealed class EchoLlm : CustomLlm
{
    /// <inheritdoc />
    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(
        ChatCompletionRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var text = LastUserText(request.Messages);
        var delay = request.Deployment.LitellmParams.TryGetValue("delay_ms", out var value) && value is long ms ? TimeSpan.FromMilliseconds(ms) : TimeSpan.Zero;
        var words = text.Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            if (delay > TimeSpan.Zero && i > 0)
            {
                await Task.Delay(delay, cancellationToken);
            }

            yield return GenericStreamingChunk.FromText(i == 0 ? words[i] : " " + words[i]);
        }

        var promptTokens = request.Messages.Sum(m => CountWords(m.Content));
        yield return GenericStreamingChunk.Finished(FinishReason.Stop, new Usage(promptTokens, words.Length));
    }

    private static string LastUserText(IReadOnlyList<ChatMessage> messages)
    {
        for (var i = messages.Count - 1; i >= 0; i--)
        {
            if (messages[i].Role == ChatRole.User)
            {
                return messages[i].Content ?? "";
            }
        }

        return "";
    }

    private static int CountWords(string? text) =>
        string.IsNullOrWhiteSpace(text) ? 0 : text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
}
