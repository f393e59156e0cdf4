using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PluginHost.OpenAi;

/// <summary>An OpenAI error: the body <c>{"error":{"message","type","param","code"}}</c> with an HTTP status.</summary>
internal sealed class OpenAiException(int status, string message, string? param = null, string? code = null, string? type = null) : Exception(message)
{
    public int Status { get; } = status;

    public string Type { get; } = type ?? OpenAiError.TypeFor(status);

    public string? Param { get; } = param;

    public string? Code { get; } = code;

    /// <summary>Sent as <c>Retry-After</c> (whole seconds, rounded up) when set.</summary>
    public TimeSpan? RetryAfter { get; init; }

    public static OpenAiException BadRequest(string message, string? param = null, string? code = null) => new(400, message, param, code);
}

/// <summary>The wire shape of an error.</summary>
internal sealed record OpenAiError(string Message, string Type, string? Param, string? Code)
{
    public static string TypeFor(int status) => status switch
    {
        400 or 404 or 405 or 408 or 409 or 413 or 415 or 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        503 => "service_unavailable_error",
        _ when status >= 500 => "internal_server_error",
        _ => "invalid_request_error",
    };
}

internal sealed record OpenAiErrorBody(OpenAiError Error);

/// <summary>
/// Writes errors; the one place where an exception becomes what the client sees, in the error shape of the route
/// it asked for (<see cref="ApiShape"/>: OpenAI's unless the route says otherwise).
/// </summary>
internal static class ErrorWriter
{
    public static async Task WriteAsync(HttpContext context, OpenAiException error)
    {
        var response = context.Response;
        response.StatusCode = error.Status;
        response.ContentType = "application/json";
        if (error.RetryAfter is { } wait)
        {
            response.Headers.RetryAfter = Math.Max(0, (long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await response.Body.WriteAsync(ApiShape.Of(context).ErrorBody(error), context.RequestAborted);
    }

    /// <summary>OpenAI's error body for <paramref name="error"/>.</summary>
    public static byte[] ToJson(OpenAiException error) =>
        JsonSerializer.SerializeToUtf8Bytes(new OpenAiErrorBody(new OpenAiError(error.Message, error.Type, error.Param, error.Code)), WireJsonContext.Wire.OpenAiErrorBody);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(OpenAiErrorBody))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelCard))]
[JsonSerializable(typeof(Readiness))]
[JsonSerializable(typeof(PluginsStatus))]
[JsonSerializable(typeof(RouterStatusBody))]
[JsonSerializable(typeof(PluginHost.Telemetry.HistoryBody))]
[JsonSerializable(typeof(string))]
internal sealed partial class WireJsonContext : JsonSerializerContext
{
    /// <summary>Like OpenAI, write text as it is (no \u0027 for apostrophes); the output is never embedded in HTML.</summary>
    public static WireJsonContext Wire { get; } = new(new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };
}
