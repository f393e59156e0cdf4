using System.Text.Json;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// Writes <c>chat.completion</c> and <c>chat.completion.chunk</c> JSON straight from the SDK records with a
/// <see cref="Utf8JsonWriter"/>: no intermediate objects, no reflection, and the exact field set OpenAI sends.
/// </summary>
internal static class ChatResponseWriter
{
    public static void WriteCompletion(Utf8JsonWriter writer, ModelResponse response, in ResponseIdentity identity)
    {
        writer.WriteStartObject();
        writer.WriteString("id"u8, response.Id ?? identity.Id);
        writer.WriteString("object"u8, "chat.completion"u8);
        writer.WriteNumber("created"u8, response.Created?.ToUnixTimeSeconds() ?? identity.Created);
        writer.WriteString("model"u8, response.Model ?? identity.Model);
        writer.WriteStartArray("choices"u8);
        var choices = ResponseJson.Required(response.Choices, "ModelResponse.Choices");
        var numbered = ResponseJson.IsNumbered(choices, static c => c.Index);
        for (var position = 0; position < choices.Count; position++)
        {
            var choice = ResponseJson.Item(choices[position], "ModelResponse.Choices", position);
            var message = choice.Message ?? throw new InvalidAnswerException($"ModelResponse.Choices[{position}].Message is null.");
            var hasToolCalls = message.ToolCalls is { Count: > 0 };
            writer.WriteStartObject();
            writer.WriteNumber("index"u8, numbered ? choice.Index : position);
            writer.WriteStartObject("message"u8);
            writer.WriteString("role"u8, message.Role.Value ?? "assistant");
            writer.WriteString("content"u8, message.Content);
            writer.WriteNull("refusal"u8);
            if (message.ReasoningContent is not null)
            {
                writer.WriteString("reasoning_content"u8, message.ReasoningContent);
            }

            if (hasToolCalls)
            {
                writer.WriteStartArray("tool_calls"u8);
                foreach (var call in message.ToolCalls!)
                {
                    writer.WriteStartObject();
                    writer.WriteString("id"u8, call.Id);
                    writer.WriteString("type"u8, call.Type);
                    writer.WriteStartObject("function"u8);
                    writer.WriteString("name"u8, call.Function.Name);
                    writer.WriteString("arguments"u8, call.Function.Arguments);
                    writer.WriteEndObject();
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            WriteProperties(writer, "provider_specific_fields"u8, message.ProviderSpecificFields);
            writer.WriteEndObject();
            writer.WriteNull("logprobs"u8);
            writer.WriteString("finish_reason"u8, (choice.FinishReason ?? (hasToolCalls ? FinishReason.ToolCalls : FinishReason.Stop)).Value);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        if (response.Usage is { } usage)
        {
            WriteUsage(writer, usage);
        }

        writer.WriteString("system_fingerprint"u8, response.SystemFingerprint);
        if (response.AdditionalProperties is { } extra)
        {
            foreach (var (name, value) in extra)
            {
                writer.WritePropertyName(name);
                value.WriteTo(writer);
            }
        }

        writer.WriteEndObject();
    }

    /// <summary>Starts a chunk object up to the opening of its <c>choices</c> array.</summary>
    public static void WriteChunkStart(Utf8JsonWriter writer, in ResponseIdentity identity)
    {
        writer.WriteStartObject();
        writer.WriteString("id"u8, identity.Id);
        writer.WriteString("object"u8, "chat.completion.chunk"u8);
        writer.WriteNumber("created"u8, identity.Created);
        writer.WriteString("model"u8, identity.Model);
        writer.WriteNull("system_fingerprint"u8);
        writer.WriteStartArray("choices"u8);
    }

    /// <summary>A chunk whose single choice carries what <paramref name="chunk"/> adds (role on a choice's first delta).</summary>
    public static void WriteDeltaChunk(Utf8JsonWriter writer, GenericStreamingChunk chunk, bool includeRole, ToolCallIds ids, in ResponseIdentity identity)
    {
        WriteChunkStart(writer, identity);
        writer.WriteStartObject();
        writer.WriteNumber("index"u8, chunk.Index);
        writer.WriteStartObject("delta"u8);
        if (includeRole)
        {
            writer.WriteString("role"u8, "assistant"u8);
        }

        if (chunk.Text.Length > 0 || (includeRole && chunk.ToolUse is null))
        {
            writer.WriteString("content"u8, chunk.Text);
        }

        if (chunk.ReasoningContent is not null)
        {
            writer.WriteString("reasoning_content"u8, chunk.ReasoningContent);
        }

        if (chunk.ToolUse is { } use)
        {
            writer.WriteStartArray("tool_calls"u8);
            writer.WriteStartObject();
            writer.WriteNumber("index"u8, use.Index);
            if (ids.FirstPiece(chunk.Index, use.Index))
            {
                writer.WriteString("id"u8, use.Id ?? ids.NewId());
                writer.WriteString("type"u8, use.Type);
                writer.WriteStartObject("function"u8);
                writer.WriteString("name"u8, use.Function.Name ?? "");
                writer.WriteString("arguments"u8, use.Function.Arguments);
            }
            else
            {
                writer.WriteStartObject("function"u8);
                writer.WriteString("arguments"u8, use.Function.Arguments);
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteEndArray();
        }

        WriteProperties(writer, "provider_specific_fields"u8, chunk.ProviderSpecificFields);
        writer.WriteEndObject();
        writer.WriteNull("logprobs"u8);
        writer.WriteNull("finish_reason"u8);
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public static void WriteFinishChunk(Utf8JsonWriter writer, int index, FinishReason reason, in ResponseIdentity identity)
    {
        WriteChunkStart(writer, identity);
        writer.WriteStartObject();
        writer.WriteNumber("index"u8, index);
        writer.WriteStartObject("delta"u8);
        writer.WriteEndObject();
        writer.WriteNull("logprobs"u8);
        writer.WriteString("finish_reason"u8, reason.Value);
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public static void WriteUsageChunk(Utf8JsonWriter writer, Usage usage, in ResponseIdentity identity)
    {
        WriteChunkStart(writer, identity);
        writer.WriteEndArray();
        WriteUsage(writer, usage);
        writer.WriteEndObject();
    }

    private static void WriteUsage(Utf8JsonWriter writer, Usage usage)
    {
        writer.WriteStartObject("usage"u8);
        writer.WriteNumber("prompt_tokens"u8, usage.PromptTokens);
        writer.WriteNumber("completion_tokens"u8, usage.CompletionTokens);
        writer.WriteNumber("total_tokens"u8, usage.TotalTokens);
        writer.WriteEndObject();
    }

    private static void WriteProperties(Utf8JsonWriter writer, ReadOnlySpan<byte> name, IReadOnlyDictionary<string, JsonElement>? properties)
    {
        if (properties is not { Count: > 0 })
        {
            return;
        }

        writer.WriteStartObject(name);
        foreach (var (key, value) in properties)
        {
            writer.WritePropertyName(key);
            value.WriteTo(writer);
        }

        writer.WriteEndObject();
    }
}

/// <summary>What every object of one response shares: its id, creation time and model name.</summary>
internal readonly record struct ResponseIdentity(string Id, long Created, string Model)
{
    // Ids are a random per-process part plus a counter: unique like a GUID, without a getrandom call per request.
    private static readonly string ProcessPart = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
    private static long _counter;

    public static ResponseIdentity Create(string prefix, string model) =>
        new(NewId(prefix), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), model);

    private static string NewId(string prefix)
    {
        var count = (ulong)Interlocked.Increment(ref _counter);
        return string.Create(prefix.Length + ProcessPart.Length + 16, (prefix, count), static (span, state) =>
        {
            state.prefix.AsSpan().CopyTo(span);
            ProcessPart.AsSpan().CopyTo(span[state.prefix.Length..]);
            state.count.TryFormat(span[(state.prefix.Length + ProcessPart.Length)..], out _, "x16", System.Globalization.CultureInfo.InvariantCulture);
        });
    }
}

/// <summary>Tracks which tool calls of a stream have been announced, so later pieces carry only arguments.</summary>
internal sealed class ToolCallIds
{
    private HashSet<(int Choice, int Call)>? _seen;

    public bool FirstPiece(int choice, int call) => (_seen ??= []).Add((choice, call));

    public string NewId() => $"call_{Guid.NewGuid():N}"[..29];
}
