namespace PluginHost.OpenAi;

/// <summary>The request's cancellation: the client's disconnect, plus the deployment's timeout when it has one.</summary>
internal sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource? _timeout;
    private readonly TimeSpan? _after;
    private readonly CancellationToken _aborted;

    private Deadline(CancellationToken aborted, TimeSpan? after)
    {
        _aborted = aborted;
        _after = after;
        if (after is { } limit)
        {
            _timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            _timeout.CancelAfter(limit);
        }
    }

    public CancellationToken Token => _timeout?.Token ?? _aborted;

    public static Deadline Start(CancellationToken aborted, TimeSpan? timeout) => new(aborted, timeout);

    /// <summary>A handler exception as the client sees it: a timeout becomes 408, the rest keep their mapping.</summary>
    public Exception Translate(Exception exception, string handlerName)
    {
        if (exception is OperationCanceledException && _aborted.IsCancellationRequested)
        {
            return exception;
        }

        if (exception is OperationCanceledException && _timeout is { IsCancellationRequested: true })
        {
            return new OpenAiException(408, $"Request timed out: the handler did not answer within {_after!.Value.TotalSeconds:0.###} s (litellm_params.timeout).", code: "timeout");
        }

        return ErrorHandlingMiddleware.ToOpenAi(exception, handlerName);
    }

    public void Dispose() => _timeout?.Dispose();
}
