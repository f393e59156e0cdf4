using System.Text.Json;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// Typed reads of request fields for the non-chat endpoints, each turning a wrong value into a 400 that names
/// the parameter, worded like OpenAI's.
/// </summary>
internal static class RequestFields
{
    /// <summary>
    /// A JSON string can be well-formed yet not text (an escaped lone surrogate such as <c>"\ud800"</c>); reading
    /// it throws <see cref="InvalidOperationException"/>. That is the client's mistake: this is its 400.
    /// </summary>
    public static OpenAiException InvalidText(InvalidOperationException exception) =>
        OpenAiException.BadRequest($"The request body holds a string that is not valid Unicode text: {exception.Message}", code: "invalid_json");

    public static string RequiredString(JsonElement? value, string path)
    {
        if (value is not { } present || present.ValueKind == JsonValueKind.Null)
        {
            throw Missing(path);
        }

        if (present.ValueKind != JsonValueKind.String)
        {
            throw InvalidType(path, "a non-empty string", present);
        }

        return present.GetString() is { Length: > 0 } text
            ? text
            : throw OpenAiException.BadRequest($"Invalid '{path}': empty string. Expected a string with minimum length 1.", path, "empty_string");
    }

    public static string? String(JsonElement value, string path) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        _ => throw InvalidType(path, "a string", value),
    };

    /// <summary>A string that must be one of <paramref name="allowed"/>.</summary>
    public static string? OneOf(JsonElement value, string path, params string[] allowed) => OneOf(String(value, path), path, allowed);

    public static string? OneOf(string? value, string path, params string[] allowed) =>
        value is null || allowed.Contains(value, StringComparer.Ordinal)
            ? value
            : throw OpenAiException.BadRequest($"Invalid value: '{value}'. Supported values are: {string.Join(", ", allowed.Select(a => $"'{a}'"))}.", path, "invalid_value");

    /// <summary>A JSON object, kept as sent (null when the client sent null).</summary>
    public static JsonElement? Object(JsonElement value, string path) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.Object => value.Clone(),
        _ => throw InvalidType(path, "an object", value),
    };

    public static bool? Boolean(JsonElement value, string path) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw InvalidType(path, "a boolean", value),
    };

    public static double? Number(JsonElement value, string path, double min, double max)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number)
        {
            throw InvalidType(path, "a number", value);
        }

        var number = value.GetDouble();
        return number >= min && number <= max
            ? number
            : throw OpenAiException.BadRequest($"Invalid '{path}': {number} is out of range; expected a value between {min} and {max}.", path, "invalid_value");
    }

    public static int? Integer(JsonElement value, string path, int min, int max = int.MaxValue)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var number))
        {
            throw InvalidType(path, "an integer", value);
        }

        return InRange(number, path, min, max);
    }

    /// <summary>An integer within a limit of <c>general_settings</c>: a larger one is refused, naming the limit's key.</summary>
    public static int? Integer(JsonElement value, string path, int min, int limit, string limitKey)
    {
        var number = Integer(value, path, min);
        AtMost(number ?? 0, limit, path, "", limitKey);
        return number;
    }

    /// <summary>Refuses a request asking for more than <paramref name="limit"/> (a <c>general_settings</c> key) before any work is done.</summary>
    public static void AtMost(int count, int limit, string path, string unit, string limitKey)
    {
        if (count > limit)
        {
            var amount = unit.Length == 0 ? $"{count}" : $"{count} {unit}";
            throw OpenAiException.BadRequest(
                $"Invalid '{path}': {amount} is more than this proxy allows ({limit}; general_settings.{limitKey}).",
                path,
                "invalid_value");
        }
    }

    /// <summary>An integer sent as form text.</summary>
    public static int? Integer(string? value, string path, int min, int max = int.MaxValue)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        return int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var number)
            ? InRange(number, path, min, max)
            : throw OpenAiException.BadRequest($"Invalid type for '{path}': expected an integer, but got '{value}'.", path, "invalid_type");
    }

    public static long? Long(JsonElement value, string path) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.Number when value.TryGetInt64(out var number) => number,
        _ => throw InvalidType(path, "an integer", value),
    };

    /// <summary>
    /// An optional array (null when absent or null), each item read by <paramref name="read"/> with its path
    /// (<c>tools[2]</c>); anything but an array is a 400 naming <paramref name="path"/>.
    /// </summary>
    public static List<T>? Items<T>(JsonElement value, string path, Func<JsonElement, string, T> read)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw InvalidType(path, "an array", value);
        }

        var items = new List<T>(value.GetArrayLength());
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            items.Add(read(item, $"{path}[{index++}]"));
        }

        return items;
    }

    /// <summary>A string or an array of strings, as a list.</summary>
    public static List<string>? Strings(JsonElement value, string path)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return [value.GetString()!];
            case JsonValueKind.Array:
                var strings = new List<string>(value.GetArrayLength());
                foreach (var item in value.EnumerateArray())
                {
                    strings.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw InvalidType(path, "a string or an array of strings", value));
                }

                return strings;
            default:
                throw InvalidType(path, "a string or an array of strings", value);
        }
    }

    /// <summary><c>stream_options</c>: null or an object whose <c>include_usage</c> is a boolean.</summary>
    public static StreamOptions? ReadStreamOptions(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw InvalidType("stream_options", "an object", value);
        }

        var includeUsage = value.TryGetProperty("include_usage", out var include) && Boolean(include, "stream_options.include_usage") == true;
        return new StreamOptions { IncludeUsage = includeUsage };
    }

    public static OpenAiException Missing(string path) =>
        OpenAiException.BadRequest($"Missing required parameter: '{path}'.", path, "missing_required_parameter");

    public static OpenAiException InvalidType(string path, string expected, JsonElement actual) =>
        OpenAiException.BadRequest($"Invalid type for '{path}': expected {expected}, but got {Describe(actual.ValueKind)}.", path, "invalid_type");

    private static int InRange(int number, string path, int min, int max) =>
        number >= min && number <= max
            ? number
            : throw OpenAiException.BadRequest($"Invalid '{path}': {number} is out of range; expected an integer of at least {min}{(max == int.MaxValue ? "" : $" and at most {max}")}.", path, "invalid_value");

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>A JSON value built with a writer.</summary>
    public static JsonElement Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }
}
