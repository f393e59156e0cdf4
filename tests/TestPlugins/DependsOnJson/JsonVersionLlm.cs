using Newtonsoft.Json;
using PluginHost.Sdk;

namespace DependsOnJson;

/// <summary>Built twice (DependsOnJson12, DependsOnJson13) against different Newtonsoft.Json versions. Answers with the version of Newtonsoft.Json it sees, and uses it (serialising a plain string).</summary>
public sealed class JsonVersionLlm : CustomLlm
{
    public override ModelResponse Completion(ChatCompletionRequest request) =>
        ModelResponse.FromText(typeof(JsonConvert).Assembly.GetName().Version + " " + JsonConvert.SerializeObject(request.Messages[^1].Content));
}
