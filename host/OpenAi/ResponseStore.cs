using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// The Responses API's recent answers on this instance, for <c>previous_response_id</c> and
/// <c>GET /v1/responses/{id}</c>: at most <c>general_settings.responses_store_size</c> (read at each answer, so a
/// reload changes it), the oldest dropped first. Only host-built objects are kept, never a handler's own, so a
/// stored answer does not keep a plugin version loaded.
/// </summary>
internal sealed class ResponseStore(ProxyRuntime runtime)
{
    private readonly Dictionary<string, StoredResponse> _responses = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private readonly Lock _lock = new();

    public void Add(StoredResponse response)
    {
        var capacity = runtime.Current.Config.ResponsesStoreSize;
        lock (_lock)
        {
            if (capacity > 0 && _responses.TryAdd(response.Identity.Id, response))
            {
                _order.Enqueue(response.Identity.Id);
            }

            while (_order.Count > capacity)
            {
                _responses.Remove(_order.Dequeue());
            }
        }
    }

    public StoredResponse? Find(string id)
    {
        lock (_lock)
        {
            return _responses.GetValueOrDefault(id);
        }
    }
}

/// <summary>A kept answer: what <c>GET</c> shows, and the conversation a later <c>previous_response_id</c> continues.</summary>
/// <param name="Identity">Its id, creation time and model.</param>
/// <param name="Echo">The request fields the response object repeats.</param>
/// <param name="Answer">Its output and usage.</param>
/// <param name="Conversation">Every message so far but the instructions (which do not carry over), its own answer last.</param>
internal sealed record StoredResponse(ResponseIdentity Identity, ResponseEcho Echo, ResponsesAnswer Answer, IReadOnlyList<ChatMessage> Conversation);
