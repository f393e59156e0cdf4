using System.Text.Json;

namespace PluginHost.OpenAi;

/// <summary>
/// A handler request's body, read within the size limit: a JSON object or a multipart form, with the
/// <c>model</c> it names (needed first, to pick the handler). Dispose it when the request ends.
/// </summary>
internal readonly struct RequestInput : IDisposable
{
    private readonly JsonDocument? _document;

    private RequestInput(JsonDocument? document, IFormCollection? form, string model)
    {
        _document = document;
        Form = form;
        Model = model;
    }

    /// <summary>The JSON body (endpoints that take JSON).</summary>
    public JsonElement Json => _document?.RootElement ?? throw new InvalidOperationException("This request has a form body, not JSON.");

    /// <summary>The multipart form (endpoints that take a form).</summary>
    public IFormCollection? Form { get; }

    /// <summary>The model name the client asked for.</summary>
    public string Model { get; }

    public static async Task<RequestInput> ReadAsync(HttpContext context, bool form, long maxBytes)
    {
        if (form)
        {
            var fields = await RequestBody.ReadFormAsync(context, maxBytes);
            var model = fields["model"].ToString() is { Length: > 0 } name ? name : throw RequestFields.Missing("model");
            return new RequestInput(null, fields, model);
        }

        var document = await RequestBody.ReadJsonAsync(context, maxBytes);
        try
        {
            return new RequestInput(document, null, ReadModel(document.RootElement));
        }
        catch (InvalidOperationException ex)
        {
            document.Dispose();
            throw RequestFields.InvalidText(ex);
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    /// <summary>Reads the <c>model</c> field of a JSON body, which must be an object.</summary>
    public static string ReadModel(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest($"The request body must be a JSON object, not {RequestFields.Describe(root.ValueKind)}.");
        }

        if (!root.TryGetProperty("model", out var model) || model.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiException.BadRequest("you must provide a model parameter", "model", "missing_required_parameter");
        }

        if (model.ValueKind != JsonValueKind.String || model.GetString() is not { Length: > 0 } name)
        {
            throw OpenAiException.BadRequest($"Invalid type for 'model': expected a non-empty string, but got {RequestFields.Describe(model.ValueKind)}.", "model", "invalid_type");
        }

        return name;
    }

    public void Dispose() => _document?.Dispose();
}
