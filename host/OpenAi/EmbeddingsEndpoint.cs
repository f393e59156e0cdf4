using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// <c>POST /embeddings</c>: OpenAI's embeddings request in, the handler's vectors out in OpenAI's list shape,
/// base64-encoded (float32, little-endian) by the host when the client asks for <c>encoding_format: base64</c>.
/// </summary>
internal static class EmbeddingsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ProxyRuntime runtime)
    {
        using var call = await JsonApiCall.BeginAsync(context, runtime);
        var binding = call.Binding;
        var request = Read(call.Root, call.Model, call.Deployment);
        using var deadline = Deadline.Start(context.RequestAborted, request.Timeout);
        var response = await HandlerCall.InvokeAsync(binding, deadline, nameof(CustomLlm.EmbeddingAsync), (handler, token) => handler.EmbeddingAsync(request, token));
        var base64 = request.EncodingFormat == "base64";
        Validate(binding, response, base64);
        await HandlerCall.WriteJsonAsync(context, writer => Write(writer, response, request.RequestedModel, base64));
    }

    public static EmbeddingRequest Read(JsonElement root, string requestedModel, ModelDeployment deployment)
    {
        List<EmbeddingInput>? input = null;
        int? dimensions = null;
        string? encodingFormat = null, user = null;
        Dictionary<string, JsonElement>? additional = null;
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model":
                    break;
                case "input":
                    input = ReadInput(value);
                    break;
                case "dimensions":
                    dimensions = RequestFields.Integer(value, "dimensions", 1);
                    break;
                case "encoding_format":
                    encodingFormat = RequestFields.OneOf(value, "encoding_format", "float", "base64");
                    break;
                case "user":
                    user = RequestFields.String(value, "user");
                    break;
                default:
                    (additional ??= new Dictionary<string, JsonElement>(StringComparer.Ordinal))[property.Name] = value.Clone();
                    break;
            }
        }

        return new EmbeddingRequest
        {
            Model = deployment.ProviderModel,
            RequestedModel = requestedModel,
            Input = input ?? throw RequestFields.Missing("input"),
            Dimensions = dimensions,
            EncodingFormat = encodingFormat,
            User = user,
            AdditionalProperties = (IReadOnlyDictionary<string, JsonElement>?)additional ?? ChatCompletionRequestDefaults.Empty,
            ApiBase = deployment.ApiBase,
            ApiKey = deployment.ApiKey,
            LitellmParams = deployment.ExtraParams,
            Timeout = deployment.Timeout,
        };
    }

    /// <summary><c>input</c>: a string, an array of strings, an array of token ids, or an array of token arrays.</summary>
    private static List<EmbeddingInput> ReadInput(JsonElement value)
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

    /// <summary>JSON cannot carry NaN or infinity: such a vector is the handler's bug, reported before anything is written.</summary>
    private static void Validate(HandlerBinding binding, EmbeddingResponse response, bool base64)
    {
        if (response.Data is null)
        {
            throw HandlerCall.BadAnswer(binding, "EmbeddingResponse.Data is null.");
        }

        if (base64)
        {
            return;
        }

        for (var i = 0; i < response.Data.Count; i++)
        {
            foreach (var number in response.Data[i].Vector.Span)
            {
                if (!float.IsFinite(number))
                {
                    throw HandlerCall.BadAnswer(binding, $"embedding {i} contains {number}, which JSON cannot carry.");
                }
            }
        }
    }

    public static void Write(Utf8JsonWriter writer, EmbeddingResponse response, string requestedModel, bool base64)
    {
        writer.WriteStartObject();
        writer.WriteString("object"u8, "list"u8);
        writer.WriteStartArray("data"u8);
        var numbered = response.Data.Any(d => d.Index != 0);
        for (var position = 0; position < response.Data.Count; position++)
        {
            var item = response.Data[position];
            writer.WriteStartObject();
            writer.WriteString("object"u8, "embedding"u8);
            writer.WriteNumber("index"u8, numbered ? item.Index : position);
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
        writer.WriteString("model"u8, response.Model ?? requestedModel);
        var usage = response.Usage ?? new Usage(0, 0);
        writer.WriteStartObject("usage"u8);
        writer.WriteNumber("prompt_tokens"u8, usage.PromptTokens);
        writer.WriteNumber("total_tokens"u8, usage.TotalTokens);
        writer.WriteEndObject();
        HandlerCall.WriteExtraFields(writer, response.AdditionalProperties);
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
