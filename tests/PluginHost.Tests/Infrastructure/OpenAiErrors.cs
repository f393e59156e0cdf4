using System.Net;
using System.Text.Json;

namespace PluginHost.Tests.Infrastructure;

/// <summary>Checks that a response is an OpenAI error: the status, and the body <c>{"error":{"message","type","param","code"}}</c>.</summary>
internal static class OpenAiErrors
{
    /// <summary>Asserts the status and the error shape; returns the <c>error</c> object for further checks.</summary>
    public static async Task<JsonElement> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(status), body);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"), body);
        return AssertErrorBody(body);
    }

    /// <summary>Asserts that <paramref name="json"/> is an OpenAI error body; returns its <c>error</c> object.</summary>
    public static JsonElement AssertErrorBody(string json)
    {
        using var document = JsonDocument.Parse(json);
        Assert.That(document.RootElement.ValueKind, Is.EqualTo(JsonValueKind.Object), json);
        Assert.That(document.RootElement.TryGetProperty("error", out var error), Is.True, json);
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("message").ValueKind, Is.EqualTo(JsonValueKind.String), json);
            Assert.That(error.GetProperty("message").GetString(), Is.Not.Empty, json);
            Assert.That(error.GetProperty("type").ValueKind, Is.EqualTo(JsonValueKind.String), json);
            Assert.That(error.TryGetProperty("param", out _), Is.True, "param is present (possibly null): " + json);
            Assert.That(error.TryGetProperty("code", out _), Is.True, "code is present (possibly null): " + json);
            Assert.That(json, Does.Not.Contain("   at "), "no stack trace");
        });
        return error.Clone();
    }
}
