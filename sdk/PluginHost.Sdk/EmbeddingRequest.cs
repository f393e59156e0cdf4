using System.Text.Json;

namespace PluginHost.Sdk;

/// <summary>
/// One embeddings request (<c>POST /embeddings</c>) as the handler sees it: the client's OpenAI request,
/// already validated, plus what the proxy's configuration says about the deployment that serves it.
/// </summary>
public sealed record EmbeddingRequest : LlmRequest
{
    /// <summary>
    /// <c>input</c>, always a list: a single string becomes a list of one. Each item is a text or, when the
    /// client sent token arrays, a list of token ids. Return one vector per item, in order.
    /// </summary>
    public required IReadOnlyList<EmbeddingInput> Input { get; init; }

    /// <summary><c>dimensions</c>: how many dimensions the client wants, if it said.</summary>
    public int? Dimensions { get; init; }

    /// <summary>
    /// <c>encoding_format</c> as the client sent it (<c>float</c> or <c>base64</c>). Informational: always
    /// return floats; the host does the base64 encoding.
    /// </summary>
    public string? EncodingFormat { get; init; }

    /// <summary><c>user</c>.</summary>
    public string? User { get; init; }

    /// <summary>
    /// The inputs as texts, for handlers that only embed text: throws a 400 <see cref="CustomLlmException"/>
    /// (which the client receives) when the client sent token arrays.
    /// </summary>
    /// <exception cref="CustomLlmException">Status 400 when an input is a token array.</exception>
    public IReadOnlyList<string> GetTexts()
    {
        var texts = new string[Input.Count];
        for (var i = 0; i < texts.Length; i++)
        {
            texts[i] = Input[i].Text ?? throw new CustomLlmException(400, $"Model '{RequestedModel}' embeds text only; 'input[{i}]' is a token array.") { Param = "input", ErrorCode = "invalid_value" };
        }

        return texts;
    }
}

/// <summary>One item of an embeddings request's <c>input</c>: a text or a list of token ids.</summary>
public sealed record EmbeddingInput
{
    /// <summary>The text, when the client sent a string.</summary>
    public string? Text { get; init; }

    /// <summary>The token ids, when the client sent an array of integers.</summary>
    public IReadOnlyList<int>? Tokens { get; init; }

    /// <summary>An input holding <paramref name="text"/>.</summary>
    public static EmbeddingInput FromText(string text) => new() { Text = text };

    /// <summary>An input holding <paramref name="tokens"/>.</summary>
    public static EmbeddingInput FromTokens(IReadOnlyList<int> tokens) => new() { Tokens = tokens };

    /// <inheritdoc />
    public override string ToString() => Text ?? $"[{string.Join(", ", Tokens ?? [])}]";
}

/// <summary>
/// The answer to an <see cref="EmbeddingRequest"/>: OpenAI's embeddings list. The host writes
/// <c>object</c>, fills <c>model</c> with the client's model name when null, and base64-encodes the vectors
/// when the client asked for <c>encoding_format: base64</c>.
/// </summary>
public sealed record EmbeddingResponse
{
    /// <summary>One vector per input, in the inputs' order.</summary>
    public required IReadOnlyList<EmbeddingVector> Data { get; init; }

    /// <summary>The model named in the response; the host uses the client's <c>model</c> when null.</summary>
    public string? Model { get; init; }

    /// <summary>Token usage (<c>prompt_tokens</c>; completion tokens are not written), if known.</summary>
    public Usage? Usage { get; init; }

    /// <summary>Extra top-level fields, written to the response as they are.</summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalProperties { get; init; }

    /// <summary>The common case in one line: one vector per input, numbered in order.</summary>
    /// <example><code>return EmbeddingResponse.FromVectors(texts.Select(Embed), new Usage(tokens, 0));</code></example>
    public static EmbeddingResponse FromVectors(IEnumerable<ReadOnlyMemory<float>> vectors, Usage? usage = null) => new()
    {
        Data = [.. vectors.Select((vector, index) => new EmbeddingVector { Index = index, Vector = vector })],
        Usage = usage,
    };

    /// <inheritdoc cref="FromVectors(IEnumerable{ReadOnlyMemory{float}}, Usage?)"/>
    public static EmbeddingResponse FromVectors(IEnumerable<float[]> vectors, Usage? usage = null) =>
        FromVectors(vectors.Select(v => new ReadOnlyMemory<float>(v)), usage);
}

/// <summary>One embedding of an <see cref="EmbeddingResponse"/>.</summary>
public sealed record EmbeddingVector
{
    /// <summary>The index of the input it embeds; the host numbers vectors by position when all are 0.</summary>
    public int Index { get; init; }

    /// <summary>The vector.</summary>
    public required ReadOnlyMemory<float> Vector { get; init; }
}
