using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Routing;

namespace PluginHost.OpenAi;

/// <summary>
/// What every JSON endpoint starts with: the body parsed (a 4xx for bad input), its <c>model</c>, and a lease on
/// that model's handler so its plugin version cannot unload mid-request. Dispose it when the request ends.
/// </summary>
internal sealed class JsonApiCall : IDisposable
{
    private readonly JsonDocument _document;
    private readonly HandlerLease _lease;

    private JsonApiCall(JsonDocument document, string model, HandlerLease lease)
    {
        _document = document;
        Model = model;
        _lease = lease;
    }

    public JsonElement Root => _document.RootElement;

    /// <summary>The model name the client asked for.</summary>
    public string Model { get; }

    public HandlerBinding Binding => _lease.Binding!;

    public ModelDeployment Deployment => _lease.Route.Deployment;

    public static async Task<JsonApiCall> BeginAsync(HttpContext context, ProxyRuntime runtime)
    {
        var document = await RequestBody.ReadJsonAsync(context, runtime.Current.Config.MaxRequestBytes);
        try
        {
            var model = ChatRequestReader.ReadModel(document.RootElement);
            return new JsonApiCall(document, model, ChatCompletionsEndpoint.Lease(runtime, model));
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _lease.Dispose();
        _document.Dispose();
    }
}
