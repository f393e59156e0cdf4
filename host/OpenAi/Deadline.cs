namespace PluginHost.OpenAi;

/// <summary>
/// An attempt's cancellation: the client's disconnect, plus its timeout when it has one, and for a stream the
/// stream timeout until the first chunk arrives (then whatever is left of the timeout).
/// </summary>
internal sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource? _timeout;
    private readonly CancellationToken _aborted;
    private readonly TimeLimit? _total;
    private readonly TimeLimit? _firstChunk;
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();
    private bool _waitingForFirstChunk;

    private Deadline(CancellationToken aborted, TimeLimit? total, TimeLimit? firstChunk)
    {
        _aborted = aborted;
        _total = total;
        _firstChunk = firstChunk;
        if ((firstChunk ?? total) is { } limit)
        {
            _timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            _timeout.CancelAfter(limit.After);
            _waitingForFirstChunk = firstChunk is not null;
        }
    }

    public CancellationToken Token => _timeout?.Token ?? _aborted;

    /// <summary>Time since the attempt started.</summary>
    public TimeSpan Elapsed => System.Diagnostics.Stopwatch.GetElapsedTime(_started);

    /// <summary>Starts an attempt that may take <paramref name="total"/>, a stream's first chunk at most <paramref name="firstChunk"/>.</summary>
    public static Deadline Start(CancellationToken aborted, TimeLimit? total, TimeLimit? firstChunk = null) => new(aborted, total, firstChunk);

    /// <summary>The stream's first chunk arrived: from now on only the timeout counts.</summary>
    public void FirstChunkArrived()
    {
        if (!_waitingForFirstChunk || _timeout is null)
        {
            return;
        }

        _waitingForFirstChunk = false;
        if (_total is { } total)
        {
            var left = total.After - Elapsed;
            _timeout.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
        }
        else
        {
            _timeout.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Whether the attempt ended because its time ran out (not because the client left).</summary>
    public bool TimedOut => _timeout is { IsCancellationRequested: true } && !_aborted.IsCancellationRequested;

    /// <summary>A handler exception as the client sees it: a timeout becomes 408, the rest keep their mapping.</summary>
    public Exception Translate(Exception exception, string handlerName)
    {
        if (exception is OperationCanceledException && _aborted.IsCancellationRequested)
        {
            return exception;
        }

        if (exception is OperationCanceledException && TimedOut)
        {
            return _waitingForFirstChunk
                ? new OpenAiException(408, $"Request timed out: the handler sent no first chunk within {_firstChunk!.Value.After.TotalSeconds:0.###} s ({_firstChunk.Value.Key}).", code: "timeout")
                : new OpenAiException(408, $"Request timed out: the handler did not answer within {_total!.Value.After.TotalSeconds:0.###} s ({_total.Value.Key}).", code: "timeout");
        }

        return ErrorHandlingMiddleware.ToOpenAi(exception, handlerName);
    }

    public void Dispose() => _timeout?.Dispose();
}

/// <summary>A time limit and the setting it comes from (named in the 408's message).</summary>
internal readonly record struct TimeLimit(TimeSpan After, string Key);
