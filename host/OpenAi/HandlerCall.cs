using System.Text.Json;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>What every non-streaming endpoint does around its handler method: call it, translate its errors, write JSON.</summary>
internal static class HandlerCall
{
    /// <summary>
    /// Calls <paramref name="method"/> on the leased handler with the request's token; a handler exception
    /// becomes the error the client should see (its own status, 408 on timeout, 500 otherwise).
    /// </summary>
    public static async Task<TResponse> InvokeAsync<TResponse>(HandlerBinding binding, Deadline deadline, string methodName, Func<CustomLlm, CancellationToken, Task<TResponse>> method)
        where TResponse : class
    {
        try
        {
            return await method(binding.Handler, deadline.Token)
                ?? throw new InvalidOperationException($"{methodName} returned null");
        }
        catch (Exception ex)
        {
            throw deadline.Translate(ex, binding.HandlerName);
        }
    }

    /// <summary>Writes a JSON response straight to the response pipe.</summary>
    public static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter, WireJsonContext.WriterOptions))
        {
            write(writer);
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    /// <summary>A handler's answer that cannot be written (a bug in the handler): a 500 naming the handler.</summary>
    public static OpenAiException BadAnswer(HandlerBinding binding, string problem) =>
        new(500, $"Handler '{binding.HandlerName}' returned an invalid response: {problem}");

    /// <summary>Writes <paramref name="properties"/> as the current object's extra fields.</summary>
    public static void WriteExtraFields(Utf8JsonWriter writer, IReadOnlyDictionary<string, JsonElement>? properties)
    {
        if (properties is null)
        {
            return;
        }

        foreach (var (name, value) in properties)
        {
            writer.WritePropertyName(name);
            value.WriteTo(writer);
        }
    }

    public static void WriteUsage(Utf8JsonWriter writer, Usage usage)
    {
        writer.WriteStartObject("usage"u8);
        writer.WriteNumber("prompt_tokens"u8, usage.PromptTokens);
        writer.WriteNumber("completion_tokens"u8, usage.CompletionTokens);
        writer.WriteNumber("total_tokens"u8, usage.TotalTokens);
        writer.WriteEndObject();
    }
}
