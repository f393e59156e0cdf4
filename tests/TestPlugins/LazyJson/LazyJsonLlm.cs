using System.Runtime.CompilerServices;
using Newtonsoft.Json;
using PluginHost.Sdk;

namespace LazyJson;

/// <summary>
/// Needs its dependency (Newtonsoft.Json) only on its first request, not when it is loaded: the code that uses it is in
/// another class, not compiled ahead with the handler. Answers with the version of Newtonsoft.Json it sees.
/// </summary>
public sealed class LazyJsonLlm : CustomLlm
{
    public override ModelResponse Completion(ChatCompletionRequest request) => ModelResponse.FromText(Later.Describe(request.Messages[^1].Content));
}

internal static class Later
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static string Describe(object? content) => typeof(JsonConvert).Assembly.GetName().Version + " " + JsonConvert.SerializeObject(content);
}
