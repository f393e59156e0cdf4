using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// A handler's answer to a chat completion: the SDK's <see cref="ModelResponse"/> (serialized by the host), or the
/// upstream's own <c>chat.completion</c> JSON from <see cref="CustomLlm.CompletionJsonAsync"/> (checked and sent as it is).
/// </summary>
internal sealed class ChatAnswer
{
    public ChatAnswer(ModelResponse record) => Record = record;

    public ChatAnswer(RawChatCompletion raw) => Raw = raw;

    public ModelResponse? Record { get; }

    public RawChatCompletion? Raw { get; }

    /// <summary>The tokens of a raw answer, read from its <c>usage</c> when it was written (<see cref="RawChatCompletionWriter"/>).</summary>
    public Usage? RawUsage { get; set; }

    public Usage? Usage => Record is null ? RawUsage : Record.Usage;
}
