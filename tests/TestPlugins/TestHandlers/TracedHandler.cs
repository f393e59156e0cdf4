using System.Diagnostics;
using PluginHost.Sdk;

namespace TestHandlers;

/// <summary>
/// A handler with spans of its own, as the README shows: an <see cref="ActivitySource"/> per instance, disposed with
/// the handler so an unloaded version leaves no source registered. Answers <c>traced:CONTENT</c>.
/// </summary>
public sealed class Traced : CustomLlm, IDisposable
{
    public const string SourceName = "TestHandlers.Traced";

    private readonly ActivitySource _source = new(SourceName);

    public override async Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        using var span = _source.StartActivity("look things up");
        span?.SetTag("test.content", request.Messages[^1].Content);
        await Task.Yield();
        return ModelResponse.FromText("traced:" + request.Messages[^1].Content, new Usage(3, 4));
    }

    public void Dispose() => _source.Dispose();
}
