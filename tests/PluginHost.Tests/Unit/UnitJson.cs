using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;

namespace PluginHost.Tests.Unit;

/// <summary>What the reader and writer unit tests share: a deployment to read for, JSON in, JSON out, refusals.</summary>
internal static class UnitJson
{
    /// <summary>The deployment's settings: readers must hand this very instance to the handler.</summary>
    public static readonly Deployment Settings = new()
    {
        ApiBase = "https://provider.example/v1",
        ApiKey = "sk-unit",
        Timeout = TimeSpan.FromSeconds(42),
        LitellmParams = new Dictionary<string, object?> { ["region"] = "eu-west" },
    };

    public static readonly ModelDeployment Entry = new()
    {
        ModelName = "public-model",
        Provider = "my-custom-llm",
        ProviderModel = "provider-model",
        Settings = Settings,
        Location = "plugins.yaml:3 model_list[0]",
    };

    /// <summary>The client asked for <c>asked-model</c> (not the entry's <c>model_name</c>), so the tests can tell which one a reader used.</summary>
    public static readonly RequestTarget Target = new("asked-model", Entry);

    /// <summary>Small limits, so a test can send one more than allowed.</summary>
    public static readonly RequestLimits SmallLimits = new()
    {
        MaxEmbeddingInputs = 3,
        MaxEmbeddingDimensions = 16,
        MaxRerankDocuments = 3,
        MaxCompletionPrompts = 3,
        MaxImagesPerRequest = 2,
        MaxImageSidePixels = 512,
    };

    public static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary>Runs a writer with the host's writer options and returns its output, which must be one well-formed JSON value.</summary>
    public static string Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WireJsonContext.WriterOptions))
        {
            write(writer);
        }

        var text = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);

        // The host's writer skips validation: parsing here is what proves the output is well-formed.
        using var document = JsonDocument.Parse(text);
        return text;
    }

    /// <summary>Asserts <paramref name="actual"/> is the same JSON as <paramref name="expected"/> (property order aside).</summary>
    public static void AssertJson(string actual, string expected)
    {
        var same = JsonNode.DeepEquals(JsonNode.Parse(actual), JsonNode.Parse(expected));
        Assert.That(same, Is.True, $"expected{Environment.NewLine}{Normalize(expected)}{Environment.NewLine}but was{Environment.NewLine}{Normalize(actual)}");
    }

    /// <summary>The names of an object's properties, in the order they were written.</summary>
    public static string[] Keys(JsonElement element) => [.. element.EnumerateObject().Select(p => p.Name)];

    /// <summary>Asserts that <paramref name="read"/> is refused with a 400 naming <paramref name="param"/> and <paramref name="code"/>; returns the message.</summary>
    public static string AssertRefused(TestDelegate read, string? param, string? code)
    {
        var error = Assert.Throws<OpenAiException>(read)!;
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400), error.Message);
            Assert.That(error.Type, Is.EqualTo("invalid_request_error"), error.Message);
            Assert.That(error.Param, Is.EqualTo(param), error.Message);
            Assert.That(error.Code, Is.EqualTo(code), error.Message);
        });
        return error.Message;
    }

    /// <summary>Asserts that writing throws because the handler's answer is malformed; returns the message.</summary>
    public static string AssertMalformed(Action<Utf8JsonWriter> write)
    {
        var error = Assert.Catch(() => Write(write))!;
        Assert.That(error, Is.Not.InstanceOf<JsonException>(), "the writer, not the parse of its output, must notice: " + error.Message);
        return error.Message;
    }

    /// <summary>Extra fields as a handler would set them.</summary>
    public static IReadOnlyDictionary<string, JsonElement> Fields(string json) =>
        Parse(json).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());

    /// <summary>The raw JSON of each of <paramref name="properties"/>, for comparing what a reader kept.</summary>
    public static Dictionary<string, string> Raw(IReadOnlyDictionary<string, JsonElement> properties) =>
        properties.ToDictionary(p => p.Key, p => p.Value.GetRawText());

    private static string Normalize(string json) => JsonNode.Parse(json)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
