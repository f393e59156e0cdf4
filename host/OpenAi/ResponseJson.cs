using System.Text.Json;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>Pieces of OpenAI's response shapes that several endpoints write.</summary>
internal static class ResponseJson
{
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

    /// <summary>A list the handler must return, or the reason its answer cannot be written.</summary>
    public static IReadOnlyList<T> Required<T>(IReadOnlyList<T>? list, string what) =>
        list ?? throw new InvalidAnswerException($"{what} is null.");

    /// <summary>
    /// Whether the handler numbered the items itself: an index is written as given when any item has a non-zero
    /// one, and items are numbered by position when all say 0 (the default).
    /// </summary>
    public static bool IsNumbered<T>(IReadOnlyList<T?> items, Func<T, int> index)
        where T : class
    {
        foreach (var item in items)
        {
            if (item is not null && index(item) != 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>An item of such a list, which must not be null.</summary>
    public static T Item<T>(T? item, string what, int index)
        where T : class =>
        item ?? throw new InvalidAnswerException($"{what}[{index}] is null.");
}
