using System.Collections;
using System.Text.Json;
using System.Text.Json.Serialization;
using PluginHost.Sdk;

namespace PluginHost.Workers;

/// <summary>
/// What the proxy and a worker process say to each other over the worker's Unix socket: the SDK's own request and
/// response records (so a handler sees exactly what it would see in the proxy), and these few of the worker's own.
/// Only SDK and host types are serialized, never a plugin's.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, Converters = [typeof(PlainValueConverter), typeof(UnsetElementConverter)])]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(TextCompletionRequest))]
[JsonSerializable(typeof(EmbeddingRequest))]
[JsonSerializable(typeof(ImageGenerationRequest))]
[JsonSerializable(typeof(ImageEditRequest))]
[JsonSerializable(typeof(RerankRequest))]
[JsonSerializable(typeof(ModelResponse))]
[JsonSerializable(typeof(TextCompletionResponse))]
[JsonSerializable(typeof(EmbeddingResponse))]
[JsonSerializable(typeof(ImageResponse))]
[JsonSerializable(typeof(RerankResponse))]
[JsonSerializable(typeof(StreamFrame))]
[JsonSerializable(typeof(WorkerError))]
[JsonSerializable(typeof(WorkerHello))]
[JsonSerializable(typeof(WorkerHandler))]
internal sealed partial class WorkerJson : JsonSerializerContext;

/// <summary>The worker's answer to <c>GET /ready</c>: it listens, and which handler types its assembly defines.</summary>
internal sealed record WorkerHello(int Pid, string? Version, IReadOnlyList<string> Handlers);

/// <summary>
/// The worker's answer to <c>POST /handlers/{type}</c>: the handler exists, and what it can serve;
/// <paramref name="PassThrough"/> when it overrides <see cref="CustomLlm.CompletionJsonAsync"/> (its chat completions
/// then cross as <c>chat.completion</c> bytes, through the <c>chat_json</c> call).
/// </summary>
internal sealed record WorkerHandler(string Type, HandlerCapabilities Capabilities, bool PassThrough = false);

/// <summary>One line of a streamed answer (NDJSON): a chunk, the error that ends the stream, or its clean end.</summary>
internal sealed record StreamFrame(GenericStreamingChunk? Chunk, WorkerError? Error, bool End = false);

/// <summary>
/// A handler's failure as it crosses the socket. <c>handler</c>: a <see cref="CustomLlmException"/> with its status,
/// type, code, param and retry-after. <c>exception</c>: anything else it threw (its type name and message, as the
/// proxy reports an in-process handler's). <c>setup</c>: the worker could not do what was asked (no such handler type,
/// a constructor that threw).
/// </summary>
internal sealed record WorkerError(string Kind, int Status, string Message, string? Type = null, string? Code = null, string? Param = null, double? RetryAfterSeconds = null, string? ExceptionType = null)
{
    public static WorkerError From(Exception exception) => exception switch
    {
        CustomLlmException handler => new("handler", handler.StatusCode, handler.Message, handler.ErrorType, handler.ErrorCode, handler.Param, handler.RetryAfter?.TotalSeconds),
        _ => new("exception", 500, exception.Message, ExceptionType: exception.GetType().Name),
    };

    /// <summary>The exception the proxy raises for it: the handler's own error, or one the pipeline names the handler in.</summary>
    public Exception ToException() => Kind switch
    {
        "handler" => new CustomLlmException(Status, Message)
        {
            ErrorType = Type,
            ErrorCode = Code,
            Param = Param,
            RetryAfter = RetryAfterSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
        },
        "exception" => new WorkerCallException(500, $"failed: {ExceptionType}: {Message}"),
        _ => new WorkerCallException(Status, Message),
    };
}

/// <summary>
/// A call to an isolated handler that failed on the proxy's side of the socket, or with an exception other than
/// <see cref="CustomLlmException"/> in the worker. The client sees <see cref="Status"/> and <c>Handler 'NAME' </c>
/// followed by <see cref="Exception.Message"/>, NAME being the handler as the configuration names it.
/// </summary>
internal sealed class WorkerCallException(int status, string message, string? code = null) : Exception(message)
{
    public int Status { get; } = status;

    public string? Code { get; } = code;

    public TimeSpan? RetryAfter { get; init; }
}

/// <summary>
/// <c>litellm_params</c> values (<see cref="Deployment.LitellmParams"/>) as plain .NET values both ways: strings,
/// booleans, <see cref="long"/> or <see cref="double"/> numbers, lists and string-keyed maps, the types the
/// configuration reader gives them, so a handler reads the same values in a worker as in the proxy.
/// </summary>
internal sealed class PlainValueConverter : JsonConverter<object>
{
    public override object? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.True:
                return true;
            case JsonTokenType.False:
                return false;
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.Number:
                return reader.TryGetInt64(out var integer) ? (object)integer : reader.GetDouble();
            case JsonTokenType.StartArray:
                var list = new List<object?>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    list.Add(Read(ref reader, typeToConvert, options));
                }

                return list;
            case JsonTokenType.StartObject:
                var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var key = reader.GetString()!;
                    reader.Read();
                    map[key] = Read(ref reader, typeToConvert, options);
                }

                return map;
            default:
                throw new JsonException($"unexpected {reader.TokenType} in litellm_params");
        }
    }

    public override void Write(Utf8JsonWriter writer, object value, JsonSerializerOptions options)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case string text:
                writer.WriteStringValue(text);
                break;
            case bool flag:
                writer.WriteBooleanValue(flag);
                break;
            case long or int or short or byte:
                writer.WriteNumberValue(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            case double or float or decimal:
                writer.WriteNumberValue(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            case IEnumerable<KeyValuePair<string, object?>> map:
                writer.WriteStartObject();
                foreach (var (key, item) in map)
                {
                    writer.WritePropertyName(key);
                    Write(writer, item!, options);
                }

                writer.WriteEndObject();
                break;
            case IEnumerable items:
                writer.WriteStartArray();
                foreach (var item in items)
                {
                    Write(writer, item!, options);
                }

                writer.WriteEndArray();
                break;
            default:
                writer.WriteStringValue(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
        }
    }
}

/// <summary>
/// A <see cref="JsonElement"/> as itself, except one never set (<c>default</c>, e.g. the <c>Raw</c> of a part built in
/// code), which System.Text.Json cannot write: it crosses as <c>null</c>.
/// </summary>
internal sealed class UnsetElementConverter : JsonConverter<JsonElement>
{
    public override JsonElement Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => JsonElement.ParseValue(ref reader);

    public override void Write(Utf8JsonWriter writer, JsonElement value, JsonSerializerOptions options)
    {
        if (value.ValueKind == JsonValueKind.Undefined)
        {
            writer.WriteNullValue();
        }
        else
        {
            value.WriteTo(writer);
        }
    }
}
