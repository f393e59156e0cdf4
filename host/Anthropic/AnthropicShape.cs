using System.Buffers;
using System.Text.Json;
using PluginHost.OpenAi;

namespace PluginHost.Anthropic;

/// <summary>
/// Anthropic's API shape: errors as <c>{"type":"error","error":{"type","message"}}</c> with Anthropic's type for
/// the status (the status itself is the one any route would send), and the key also in <c>x-api-key</c>.
/// </summary>
internal sealed class AnthropicShape : ApiShape
{
    public static AnthropicShape Instance { get; } = new();

    public override string? KeyHeader => "x-api-key";

    public override byte[] ErrorBody(OpenAiException error)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WireJsonContext.WriterOptions))
        {
            WriteError(writer, error);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes the error object, the body of an error response and the data of a stream's <c>error</c> event.</summary>
    public static void WriteError(Utf8JsonWriter writer, OpenAiException error)
    {
        writer.WriteStartObject();
        writer.WriteString("type"u8, "error"u8);
        writer.WriteStartObject("error"u8);
        writer.WriteString("type"u8, TypeFor(error.Status));
        writer.WriteString("message"u8, error.Message);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>Anthropic's error type for an HTTP status.</summary>
    public static string TypeFor(int status) => status switch
    {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        408 or 504 => "timeout_error",
        503 or 529 => "overloaded_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };
}
