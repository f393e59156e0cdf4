namespace PluginHost.Sdk;

// The pass-through fast path of chat completions: a handler in front of an OpenAI-compatible server may hand the
// host the server's own answer bytes instead of a ModelResponse the host would serialize again.
public abstract partial class CustomLlm
{
    private static readonly Task<RawChatCompletion?> NoRawCompletion = Task.FromResult<RawChatCompletion?>(null);

    /// <summary>
    /// An optional fast path for <c>POST /chat/completions</c> without <c>stream: true</c>: the answer as an
    /// OpenAI <c>chat.completion</c> JSON object, typically the bytes an OpenAI-compatible upstream sent. The host
    /// checks that it is one well-formed JSON object with a <c>choices</c> array, reads <c>usage</c> from it (for
    /// <c>tpm</c> limits, metrics and the access log), sets its <c>model</c> to the model name the client asked
    /// for, and sends everything else as it is: no parse into records, no second serialization.
    /// </summary>
    /// <remarks>
    /// <para>The default returns null, and so does a handler that wants the ordinary path for a request (to
    /// inspect or change the answer, return a <see cref="ModelResponse"/> from <see cref="CompletionAsync"/>):
    /// the host then calls <see cref="CompletionAsync"/>. Overriding this method does not replace
    /// <see cref="CompletionAsync"/>, which the other endpoints (<c>/responses</c>, <c>/messages</c>,
    /// <c>/completions</c>) and streaming fall back to; override both.</para>
    /// <para>The host sends nothing before the whole answer has been checked, so an answer that is not a
    /// <c>chat.completion</c> object is a 500 naming the handler and, like any failed attempt, may be retried on
    /// another deployment. The bytes are read before the host's next await; they need not outlive the request.</para>
    /// </remarks>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <returns>The answer's JSON, or null to answer with <see cref="CompletionAsync"/>.</returns>
    public virtual Task<RawChatCompletion?> CompletionJsonAsync(ChatCompletionRequest request, CancellationToken cancellationToken) => NoRawCompletion;
}

/// <summary>
/// A chat completion as OpenAI's <c>chat.completion</c> JSON (UTF-8), returned by
/// <see cref="CustomLlm.CompletionJsonAsync"/>: sent to the client as it is, with only <c>model</c> set.
/// </summary>
public sealed record RawChatCompletion
{
    /// <summary>One JSON object with a <c>choices</c> array, as OpenAI's <c>POST /chat/completions</c> answers.</summary>
    public required ReadOnlyMemory<byte> Json { get; init; }
}
