using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// <c>POST /embeddings</c>: OpenAI's embeddings request in, the handler's vectors out in OpenAI's list shape,
/// base64-encoded (float32, little-endian) by the host when the client asks for <c>encoding_format: base64</c>.
/// </summary>
internal sealed class EmbeddingsEndpoint : IHandlerEndpoint<EmbeddingRequest, EmbeddingResponse>
{
    public static HandlerCapabilities Capability => HandlerCapabilities.Embeddings;

    public static string Operation => "embeddings";

    public static Usage? UsageOf(EmbeddingResponse response) => response.Usage;

    public static Task<EmbeddingResponse> InvokeAsync(CustomLlm handler, EmbeddingRequest request, CancellationToken cancellationToken) =>
        handler.EmbeddingAsync(request, cancellationToken);

    public static EmbeddingRequest Read(JsonElement root, RequestTarget target, RequestLimits limits)
    {
        List<EmbeddingInput>? input = null;
        int? dimensions = null;
        string? encodingFormat = null, user = null;
        var extra = new ExtraFields();
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model":
                    break;
                case "input":
                    input = ReadInput(value, limits);
                    break;
                case "dimensions":
                    dimensions = RequestFields.Integer(value, "dimensions", 1, limits.MaxEmbeddingDimensions, "max_embedding_dimensions");
                    break;
                case "encoding_format":
                    encodingFormat = RequestFields.OneOf(value, "encoding_format", "float", "base64");
                    break;
                case "user":
                    user = RequestFields.String(value, "user");
                    break;
                default:
                    extra.Add(property);
                    break;
            }
        }

        return new EmbeddingRequest
        {
            Input = input ?? throw RequestFields.Missing("input"),
            Model = target.Deployment.ProviderModel,
            RequestedModel = target.RequestedModel,
            Deployment = target.Deployment.Settings,
            AdditionalProperties = extra.ToReadOnly(),
            Dimensions = dimensions,
            EncodingFormat = encodingFormat,
            User = user,
        };
    }

    /// <summary><c>input</c>: a string, an array of strings, an array of token ids, or an array of token arrays.</summary>
    private static List<EmbeddingInput> ReadInput(JsonElement value, RequestLimits limits)
    {
        const string Expected = "a string, an array of strings, an array of integers, or an array of integer arrays";
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                return [EmbeddingInput.FromText(NonEmpty(value, "input"))];
            case JsonValueKind.Array when value.GetArrayLength() == 0:
                throw OpenAiException.BadRequest("Invalid 'input': empty array. Expected an array with minimum length 1.", "input", "empty_array");
            case JsonValueKind.Array:
                var first = value[0].ValueKind;
                if (first == JsonValueKind.Number)
                {
                    return [EmbeddingInput.FromTokens(ReadTokens(value, "input"))];
                }

                RequestFields.AtMost(value.GetArrayLength(), limits.MaxEmbeddingInputs, "input", "items", "max_embedding_inputs");

                var inputs = new List<EmbeddingInput>(value.GetArrayLength());
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    var path = $"input[{index++}]";
                    inputs.Add(item.ValueKind switch
                    {
                        JsonValueKind.String when first == JsonValueKind.String => EmbeddingInput.FromText(NonEmpty(item, path)),
                        JsonValueKind.Array when first == JsonValueKind.Array => EmbeddingInput.FromTokens(ReadTokens(item, path)),
                        _ => throw RequestFields.InvalidType(path, first == JsonValueKind.Array ? "an array of integers" : first == JsonValueKind.String ? "a string" : Expected, item),
                    });
                }

                return inputs;
            default:
                throw RequestFields.InvalidType("input", Expected, value);
        }
    }

    private static string NonEmpty(JsonElement value, string path) =>
        value.GetString() is { Length: > 0 } text
            ? text
            : throw OpenAiException.BadRequest($"Invalid '{path}': empty string. Expected a string with minimum length 1.", path, "empty_string");

    private static int[] ReadTokens(JsonElement value, string path)
    {
        if (value.GetArrayLength() == 0)
        {
            throw OpenAiException.BadRequest($"Invalid '{path}': empty array. Expected an array with minimum length 1.", path, "empty_array");
        }

        var tokens = new int[value.GetArrayLength()];
        var i = 0;
        foreach (var token in value.EnumerateArray())
        {
            tokens[i] = token.ValueKind == JsonValueKind.Number && token.TryGetInt32(out var id) && id >= 0
                ? id
                : throw RequestFields.InvalidType($"{path}[{i}]", "a non-negative integer token id", token);
            i++;
        }

        return tokens;
    }

    public static void Write(Utf8JsonWriter writer, EmbeddingRequest request, EmbeddingResponse response)
    {
        var data = ResponseJson.Required(response.Data, "EmbeddingResponse.Data");
        var base64 = request.EncodingFormat == "base64";
        writer.WriteStartObject();
        writer.WriteString("object"u8, "list"u8);
        writer.WriteStartArray("data"u8);
        var numbered = ResponseJson.IsNumbered(data, static d => d.Index);
        for (var position = 0; position < data.Count; position++)
        {
            var item = ResponseJson.Item(data[position], "EmbeddingResponse.Data", position);
            writer.WriteStartObject();
            writer.WriteString("object"u8, "embedding"u8);
            writer.WriteNumber("index"u8, numbered ? item.Index : position);
            foreach (var number in item.Vector.Span)
            {
                // JSON cannot carry NaN or infinity, and base64 would carry them to a client that cannot use them.
                if (!float.IsFinite(number))
                {
                    throw new InvalidAnswerException($"embedding {position} contains {number}, which JSON cannot carry.");
                }
            }

            if (base64)
            {
                writer.WriteBase64String("embedding"u8, LittleEndianBytes(item.Vector.Span));
            }
            else
            {
                writer.WriteStartArray("embedding"u8);
                foreach (var number in item.Vector.Span)
                {
                    writer.WriteNumberValue(number);
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteString("model"u8, response.Model ?? request.RequestedModel);
        var usage = response.Usage ?? new Usage(0, 0);
        writer.WriteStartObject("usage"u8);
        writer.WriteNumber("prompt_tokens"u8, usage.PromptTokens);
        writer.WriteNumber("total_tokens"u8, usage.TotalTokens);
        writer.WriteEndObject();
        ResponseJson.WriteExtraFields(writer, response.AdditionalProperties);
        writer.WriteEndObject();
    }

    /// <summary>The vector as OpenAI's base64 payload: float32, little-endian, one after another.</summary>
    private static ReadOnlySpan<byte> LittleEndianBytes(ReadOnlySpan<float> vector)
    {
        if (BitConverter.IsLittleEndian)
        {
            return MemoryMarshal.AsBytes(vector);
        }

        var bytes = new byte[vector.Length * sizeof(float)];
        for (var i = 0; i < vector.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        }

        return bytes;
    }
}
