using System.Runtime.CompilerServices;

namespace PluginHost.Sdk;

/// <summary>
/// The base class of every handler, LiteLLM's <c>CustomLLM</c> in C#. Override any one of
/// <see cref="Completion"/>, <see cref="Streaming"/>, <see cref="CompletionAsync"/> or
/// <see cref="StreamingAsync"/> and the handler serves both plain and streaming requests: a
/// completion-only handler is streamed to clients as a single chunk, a streaming-only handler is
/// aggregated for clients that do not stream. A handler that overrides none of them answers
/// HTTP 500 <c>Not implemented yet!</c>, as LiteLLM does.
/// </summary>
/// <remarks>
/// <para>The host creates one instance per handler type per loaded version of the plugin and calls it
/// concurrently from many requests, so keep per-request state in locals. It needs a public constructor that
/// takes no arguments. If the handler implements <see cref="IDisposable"/> or <see cref="IAsyncDisposable"/>,
/// the host disposes it after it is replaced or removed and its last request has finished.</para>
/// <para>Plugins are loaded from memory, so <c>Assembly.Location</c> is empty inside a handler; use
/// <see cref="AppContext.BaseDirectory"/> for the host's folder, or put what you need in <c>litellm_params</c>.</para>
/// </remarks>
public abstract partial class CustomLlm
{
    /// <summary>Initialises the handler and notes which methods the subclass overrides.</summary>
    // Not inlined: a plugin's code is compiled fully optimised when loaded (collectible assemblies are not tiered),
    // and inlining this into every handler's constructor compiled 1.5 KB of code per handler instead of a call.
    [MethodImpl(MethodImplOptions.NoInlining)]
    protected CustomLlm()
    {
        _overridden = OverridesOf(GetType());
        Capabilities = CapabilitiesOf(_overridden);
    }

    /// <summary>LiteLLM's <c>completion</c>: answers a request synchronously.</summary>
    /// <exception cref="CustomLlmException">Status 500 when no chat method is overridden.</exception>
    public virtual ModelResponse Completion(ChatCompletionRequest request)
    {
        if (Overrides(Method.CompletionAsync))
        {
            return CompletionAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        }

        if (Overrides(Method.Streaming))
        {
            return StreamAggregator.Aggregate(Streaming(request));
        }

        if (Overrides(Method.StreamingAsync))
        {
            return StreamAggregator.AggregateAsync(StreamingAsync(request, CancellationToken.None), CancellationToken.None).GetAwaiter().GetResult();
        }

        throw CustomLlmException.NotImplemented();
    }

    /// <summary>LiteLLM's <c>streaming</c>: yields the answer in pieces, synchronously.</summary>
    /// <exception cref="CustomLlmException">Status 500 when no chat method is overridden.</exception>
    public virtual IEnumerable<GenericStreamingChunk> Streaming(ChatCompletionRequest request)
    {
        if (Overrides(Method.StreamingAsync))
        {
            return StreamAggregator.ToEnumerable(StreamingAsync(request, CancellationToken.None));
        }

        if (Overrides(Method.Completion))
        {
            return StreamAggregator.ToChunks(Completion(request));
        }

        if (Overrides(Method.CompletionAsync))
        {
            return StreamAggregator.ToChunks(CompletionAsync(request, CancellationToken.None).GetAwaiter().GetResult());
        }

        throw CustomLlmException.NotImplemented();
    }

    /// <summary>
    /// LiteLLM's <c>acompletion</c>: answers a request. The host calls this one for requests without
    /// <c>stream: true</c>.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <exception cref="CustomLlmException">Status 500 when no chat method is overridden.</exception>
    public virtual Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        if (Overrides(Method.Completion))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Task.FromResult(Completion(request));
        }

        if (Overrides(Method.StreamingAsync))
        {
            return StreamAggregator.AggregateAsync(StreamingAsync(request, cancellationToken), cancellationToken);
        }

        if (Overrides(Method.Streaming))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Task.FromResult(StreamAggregator.Aggregate(Streaming(request), cancellationToken));
        }

        return Task.FromException<ModelResponse>(CustomLlmException.NotImplemented());
    }

    /// <summary>
    /// LiteLLM's <c>astreaming</c>: yields the answer in pieces. The host calls this one for requests with
    /// <c>stream: true</c> and writes each chunk to the client as soon as it is yielded.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <exception cref="CustomLlmException">Status 500 when no chat method is overridden.</exception>
    public virtual IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        if (Overrides(Method.Streaming))
        {
            return StreamAggregator.ToAsyncEnumerable(Streaming(request), cancellationToken);
        }

        if (Overrides(Method.CompletionAsync))
        {
            return FromCompletion(CompletionAsync(request, cancellationToken), cancellationToken);
        }

        if (Overrides(Method.Completion))
        {
            return FromCompletion(Task.Run(() => Completion(request), cancellationToken), cancellationToken);
        }

        return NotImplementedStream();
    }

    private static async IAsyncEnumerable<GenericStreamingChunk> FromCompletion(Task<ModelResponse> completion, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var response = await completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var chunk in StreamAggregator.ToChunks(response))
        {
            yield return chunk;
        }
    }

#pragma warning disable CS1998 // An iterator that only throws: the error surfaces on the first MoveNextAsync, as for a real stream.
    private static async IAsyncEnumerable<GenericStreamingChunk> NotImplementedStream()
    {
        throw CustomLlmException.NotImplemented();
#pragma warning disable CS0162
        yield break;
#pragma warning restore CS0162
    }
#pragma warning restore CS1998
}
