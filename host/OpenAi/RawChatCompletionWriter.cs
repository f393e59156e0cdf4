using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// Writes a handler's raw <c>chat.completion</c> JSON (<see cref="CustomLlm.CompletionJsonAsync"/>): one pass of a
/// <see cref="Utf8JsonReader"/> checks that it is valid UTF-8 and one JSON object with a <c>choices</c> array,
/// finds its top-level <c>model</c> and reads <c>usage</c>; then the bytes are copied with <c>model</c> set to the
/// name the client asked for. Nothing is parsed into records and nothing is serialized again.
/// </summary>
internal static class RawChatCompletionWriter
{
    [ThreadStatic]
    private static (string Name, byte[] Json)? _lastModel;

    /// <summary>Writes <paramref name="json"/> as the answer; returns its usage (null when it has none).</summary>
    /// <exception cref="InvalidAnswerException">The bytes are not a <c>chat.completion</c> object.</exception>
    public static Usage? Write(Utf8JsonWriter writer, ReadOnlySpan<byte> json, string model)
    {
        var shape = Read(json);
        var encodedModel = Encoded(model);
        // The answer with its model replaced (or, when it has none, added as the first property).
        var replaces = shape.ModelStart >= 0;
        var keepUntil = replaces ? shape.ModelStart : shape.ObjectStart + 1;
        var resumeAt = replaces ? shape.ModelEnd : keepUntil;
        var prefix = replaces ? "\""u8 : "\"model\":\""u8;
        var suffix = replaces ? "\""u8 : "\","u8;
        var length = keepUntil + prefix.Length + encodedModel.Length + suffix.Length + (json.Length - resumeAt);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var output = rented.AsSpan();
            var at = 0;
            Append(output, ref at, json[..keepUntil]);
            Append(output, ref at, prefix);
            Append(output, ref at, encodedModel);
            Append(output, ref at, suffix);
            Append(output, ref at, json[resumeAt..]);
            writer.WriteRawValue(output[..at], skipInputValidation: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return shape.Usage;
    }

    /// <summary>The model name as JSON string content; the last one is kept per thread (one model answers most requests).</summary>
    private static ReadOnlySpan<byte> Encoded(string model)
    {
        if (_lastModel is not { } last || !ReferenceEquals(last.Name, model) && last.Name != model)
        {
            _lastModel = last = (model, JsonEncodedText.Encode(model, WireJsonContext.WriterOptions.Encoder).EncodedUtf8Bytes.ToArray());
        }

        return last.Json;
    }

    private static void Append(Span<byte> output, ref int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(output[at..]);
        at += bytes.Length;
    }

    private static Shape Read(ReadOnlySpan<byte> json)
    {
        if (!Utf8.IsValid(json))
        {
            throw new InvalidAnswerException("RawChatCompletion.Json is not valid UTF-8.");
        }

        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new InvalidAnswerException("RawChatCompletion.Json is not a JSON object.");
            }

            var shape = new Shape { ObjectStart = (int)reader.TokenStartIndex, ModelStart = -1 };
            var choices = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw new InvalidAnswerException("RawChatCompletion.Json's \"model\" is not a string.");
                    }

                    // The string token with its quotes: what the client's model name replaces.
                    shape.ModelStart = (int)reader.TokenStartIndex;
                    shape.ModelEnd = (int)reader.BytesConsumed;
                }
                else if (reader.ValueTextEquals("choices"u8))
                {
                    reader.Read();
                    choices = reader.TokenType == JsonTokenType.StartArray;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    shape.Usage = ReadUsage(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // The root object's end; anything after it but whitespace is a JsonException from the reader.
            while (reader.Read())
            {
            }

            return choices ? shape : throw new InvalidAnswerException("RawChatCompletion.Json has no \"choices\" array.");
        }
        catch (JsonException ex)
        {
            throw new InvalidAnswerException($"RawChatCompletion.Json is not valid JSON: {ex.Message}");
        }
    }

    /// <summary>OpenAI's <c>usage</c> object (null when it is null or not an object); the reader ends on its last token.</summary>
    private static Usage? ReadUsage(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return null;
        }

        int prompt = 0, completion = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isPrompt = reader.ValueTextEquals("prompt_tokens"u8);
            var isCompletion = !isPrompt && reader.ValueTextEquals("completion_tokens"u8);
            reader.Read();
            if (reader.TokenType == JsonTokenType.Number && (isPrompt || isCompletion) && reader.TryGetInt32(out var tokens))
            {
                (isPrompt ? ref prompt : ref completion) = tokens;
            }
            else
            {
                reader.Skip();
            }
        }

        return new Usage(prompt, completion);
    }

    private struct Shape
    {
        public int ObjectStart;
        public int ModelStart;
        public int ModelEnd;
        public Usage? Usage;
    }
}
