using System.Net;
using System.Text;
using System.Text.Json;

namespace PluginHost.Tests.Infrastructure;

/// <summary>A raw HTTP answer: status, body text and, when it is JSON, its root.</summary>
internal sealed record RawResponse(HttpStatusCode Status, string Body)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    /// <summary>The <c>data:</c> events of an SSE body, without <c>[DONE]</c>, parsed.</summary>
    public List<JsonElement> Events => [.. Body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
        .Where(e => e.StartsWith("data: ", StringComparison.Ordinal) && e != "data: [DONE]")
        .Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement)];

    public bool EndsWithDone => Body.TrimEnd().EndsWith("data: [DONE]", StringComparison.Ordinal);
}

/// <summary>Raw requests to the proxy, for shapes and bad input the OpenAI SDK cannot send.</summary>
internal static class RawHttp
{
    public static async Task<RawResponse> PostJsonAsync(this TestProxy proxy, string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await proxy.Http.PostAsync(path, content);
        return new RawResponse(response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static async Task<RawResponse> PostAsync(this TestProxy proxy, string path, HttpContent content)
    {
        using var response = await proxy.Http.PostAsync(path, content);
        return new RawResponse(response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>A multipart form: text fields, then files as (field, file name, content).</summary>
    public static MultipartFormDataContent Form(IEnumerable<(string Name, string Value)> fields, params (string Field, string FileName, string Content)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in fields)
        {
            form.Add(new StringContent(value), name);
        }

        foreach (var (field, fileName, content) in files)
        {
            var file = new ByteArrayContent(Encoding.UTF8.GetBytes(content));
            file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
            form.Add(file, field, fileName);
        }

        return form;
    }

    /// <summary>The OpenAI error of a 4xx/5xx body: (message, param, code).</summary>
    public static (string? Message, string? Param, string? Code) Error(this RawResponse response)
    {
        var error = response.Json.GetProperty("error");
        return (error.GetProperty("message").GetString(), error.GetProperty("param").GetString(), error.GetProperty("code").GetString());
    }
}
