using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace ElizaHandler;

/// <summary>
/// Weizenbaum's ELIZA as an <see cref="IChatClient"/>: it reflects the user's last message back as a
/// question, streaming word by word. Offered tools, it calls the first one with the user's message as
/// <c>{"text": …}</c>, the way a model would.
/// </summary>
public sealed partial class ElizaChatClient : IChatClient
{
    private static readonly Dictionary<string, string> Reflections = new(StringComparer.OrdinalIgnoreCase)
    {
        ["i"] = "you", ["me"] = "you", ["my"] = "your", ["am"] = "are", ["i'm"] = "you are", ["mine"] = "yours",
        ["you"] = "I", ["your"] = "my", ["yours"] = "mine", ["are"] = "am", ["you're"] = "I am", ["myself"] = "yourself",
    };

    private static readonly (Regex Pattern, string Answer)[] Rules =
    [
        (IFeel(), "Why do you feel {0}?"),
        (INeed(), "Why do you need {0}?"),
        (IAm(), "How long have you been {0}?"),
        (Because(), "Is that the real reason?"),
        (Hello(), "Hello. How are you feeling today?"),
    ];

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken))
        {
            updates.Add(update);
        }

        return updates.ToChatResponse();
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var history = messages.ToList();
        var said = history.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        var promptTokens = history.Sum(m => CountWords(m.Text));
        if (options?.Tools is [AIFunctionDeclaration tool, ..] && options.ToolMode is not NoneChatToolMode && history[^1].Role == ChatRole.User)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new FunctionCallContent($"call_{Guid.NewGuid():N}"[..24], tool.Name, new Dictionary<string, object?> { ["text"] = said })])
            {
                FinishReason = ChatFinishReason.ToolCalls,
            };
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = promptTokens, OutputTokenCount = 1 })]);
            yield break;
        }

        var words = Answer(said).Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, i == 0 ? words[i] : " " + words[i]);
        }

        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = promptTokens, OutputTokenCount = words.Length })])
        {
            FinishReason = ChatFinishReason.Stop,
        };
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    /// <inheritdoc />
    public void Dispose()
    {
    }

    /// <summary>ELIZA's answer to <paramref name="said"/>.</summary>
    public static string Answer(string said)
    {
        var sentence = said.Trim().TrimEnd('.', '!', '?');
        foreach (var (pattern, answer) in Rules)
        {
            var match = pattern.Match(sentence);
            if (match.Success)
            {
                return string.Format(System.Globalization.CultureInfo.InvariantCulture, answer, Reflect(match.Groups["rest"].Value));
            }
        }

        return sentence.Length == 0 ? "Please, go on." : $"You say \"{Reflect(sentence)}\". Tell me more.";
    }

    private static string Reflect(string text) =>
        string.Join(' ', text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => Reflections.GetValueOrDefault(w, w)));

    private static int CountWords(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    [GeneratedRegex(@"^i feel (?<rest>.+)$", RegexOptions.IgnoreCase)]
    private static partial Regex IFeel();

    [GeneratedRegex(@"^i need (?<rest>.+)$", RegexOptions.IgnoreCase)]
    private static partial Regex INeed();

    [GeneratedRegex(@"^i(?: am|'m) (?<rest>.+)$", RegexOptions.IgnoreCase)]
    private static partial Regex IAm();

    [GeneratedRegex(@"\bbecause\b", RegexOptions.IgnoreCase)]
    private static partial Regex Because();

    [GeneratedRegex(@"^(hello|hi|hey)\b", RegexOptions.IgnoreCase)]
    private static partial Regex Hello();
}
