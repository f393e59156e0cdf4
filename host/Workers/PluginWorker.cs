using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Sdk;
using PluginHost.Telemetry;

namespace PluginHost.Workers;

/// <summary>Where an isolated plugin version's worker is.</summary>
internal enum WorkerState
{
    /// <summary>Running and answering.</summary>
    Ready,

    /// <summary>It died; a new one starts after a backoff, and calls wait for it.</summary>
    Restarting,

    /// <summary>It kept dying: calls answer 503 until the circuit's time is up, then one more start is tried.</summary>
    CircuitOpen,

    /// <summary>Stopped with its plugin version (replaced, removed, or the proxy stopping).</summary>
    Stopped,
}

/// <summary>
/// Supervises the worker process of one isolated plugin version (<c>isolation: process</c>): starts it, makes the calls
/// of its <see cref="RemoteLlm"/> handlers over its socket, restarts it with backoff when it dies (re-creating the
/// handlers it had), holds the circuit open after <see cref="WorkerSettings.CrashLimit"/> crashes in a row, and stops it
/// when the version is unloaded. Calls in flight when it dies fail with 502 naming the handler.
/// </summary>
internal sealed class PluginWorker
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private readonly PluginFile _file;
    private readonly string _sha256;
    private readonly IReadOnlyList<WorkerDependency> _dependencies;
    private readonly TimeSpan _constructorTimeout;
    private readonly ILogger _logger;
    private readonly PluginHostMetrics _metrics;

    // The handler types created so far, by full name, with what each serves: a restarted worker creates them again.
    private readonly Dictionary<string, WorkerHandler> _handlers = new(StringComparer.Ordinal);
    private WorkerProcess _process;
    private TaskCompletionSource<WorkerProcess> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _crashesInARow;
    private Task? _stopped;

    private PluginWorker(PluginFile file, string sha256, IReadOnlyList<WorkerDependency> dependencies, WorkerSettings settings, TimeSpan constructorTimeout, ILogger logger, PluginHostMetrics metrics, WorkerProcess process, WorkerHello hello)
    {
        _metrics = metrics;
        _file = file;
        _sha256 = sha256;
        _dependencies = dependencies;
        Settings = settings;
        _constructorTimeout = constructorTimeout;
        _logger = logger;
        _process = process;
        Handlers = hello.Handlers;
        Version = hello.Version;
        _ready.SetResult(process);
        Watch(process);
    }

    public WorkerSettings Settings { get; }

    /// <summary>The handler types the worker's assembly defines (full names).</summary>
    public IReadOnlyList<string> Handlers { get; }

    public string? Version { get; }

    public WorkerState State { get; private set; } = WorkerState.Ready;

    /// <summary>How many times a worker of this version was started again after one died.</summary>
    public int Restarts { get; private set; }

    public int CrashesInARow => Volatile.Read(ref _crashesInARow);

    /// <summary>How the last worker of this version died, if one did.</summary>
    public string? LastExit { get; private set; }

    /// <summary>Until when an open circuit answers 503.</summary>
    public DateTimeOffset? CircuitOpenUntil { get; private set; }

    /// <summary>How long the current (or last) worker took from process start to ready.</summary>
    public TimeSpan StartedIn
    {
        get
        {
            lock (_gate)
            {
                return _process.StartedIn;
            }
        }
    }

    /// <summary>The running worker's process id, if one runs.</summary>
    public int? Pid
    {
        get
        {
            lock (_gate)
            {
                return State == WorkerState.Ready ? _process.Pid : null;
            }
        }
    }

    /// <summary>Starts the first worker of a version and waits until it is ready; throws with why it could not start.</summary>
    public static PluginWorker Start(PluginFile file, string sha256, IReadOnlyList<WorkerDependency> dependencies, WorkerSettings settings, TimeSpan constructorTimeout, ILogger logger, PluginHostMetrics metrics)
    {
        var (process, hello) = WorkerProcess.StartAsync(file, sha256, dependencies, settings, constructorTimeout, ReadyTimeout, logger).GetAwaiter().GetResult();
        Log.WorkerStarted(logger, file.Name, process.Pid, process.StartedIn.TotalMilliseconds);
        return new PluginWorker(file, sha256, dependencies, settings, constructorTimeout, logger, metrics, process, hello);
    }

    /// <summary>Has the worker create the handler type <paramref name="type"/> (full name); a constructor that throws throws here.</summary>
    public WorkerHandler CreateHandler(string type)
    {
        var process = AcquireAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
        var created = CreateAsync(process, type).GetAwaiter().GetResult();
        lock (_gate)
        {
            _handlers[type] = created;
        }

        return created;
    }

    private async Task<WorkerHandler> CreateAsync(WorkerProcess process, string type)
    {
        using var timeout = new CancellationTokenSource(_constructorTimeout + TimeSpan.FromSeconds(5));
        HttpResponseMessage response;
        try
        {
            response = await process.Http.PostAsync($"handlers/{Uri.EscapeDataString(type)}", content: null, timeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            // A constructor (or static constructor) that takes its process down with it.
            await process.Exited.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            throw new InvalidOperationException(process.HasExited ? $"its worker process {process.ExitDescription} while creating {type}" : $"the connection to its worker process broke while creating {type}: {ex.Message}", ex);
        }

        using var _ = response;
        if (!response.IsSuccessStatusCode)
        {
            var error = await response.Content.ReadFromJsonAsync(WorkerJson.Default.WorkerError, timeout.Token);
            throw new InvalidOperationException(error?.Message ?? $"the worker answered HTTP {(int)response.StatusCode}");
        }

        return (await response.Content.ReadFromJsonAsync(WorkerJson.Default.WorkerHandler, timeout.Token))!;
    }

    /// <summary>Calls <paramref name="method"/> of handler <paramref name="type"/> in the worker with <paramref name="request"/>.</summary>
    public Task<TResponse> CallAsync<TRequest, TResponse>(string type, string method, TRequest request, JsonTypeInfo<TRequest> requestInfo, JsonTypeInfo<TResponse> responseInfo, CancellationToken cancellationToken)
        where TResponse : class =>
        CallAsync(type, method, request, requestInfo, async (content, token) => (await content.ReadFromJsonAsync(responseInfo, token))!, cancellationToken);

    /// <summary>Calls <paramref name="method"/> of handler <paramref name="type"/> in the worker; the answer's bytes as they came.</summary>
    public Task<byte[]> CallForBytesAsync<TRequest>(string type, string method, TRequest request, JsonTypeInfo<TRequest> requestInfo, CancellationToken cancellationToken) =>
        CallAsync(type, method, request, requestInfo, (content, token) => content.ReadAsByteArrayAsync(token), cancellationToken);

    private async Task<TResponse> CallAsync<TRequest, TResponse>(string type, string method, TRequest request, JsonTypeInfo<TRequest> requestInfo, Func<HttpContent, CancellationToken, Task<TResponse>> read, CancellationToken cancellationToken)
    {
        var process = await AcquireAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Settings.RequestTimeout);
        try
        {
            using var message = Message($"call/{Uri.EscapeDataString(type)}/{method}", request, requestInfo);
            using var response = await process.Http.SendAsync(message, HttpCompletionOption.ResponseContentRead, limit.Token);
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorOfAsync(response, limit.Token);
            }

            var answer = await read(response.Content, limit.Token);
            Succeeded();
            return answer;
        }
        catch (Exception ex) when (ex is not CustomLlmException and not WorkerCallException)
        {
            throw await TranslateAsync(ex, process, cancellationToken, limit.Token);
        }
    }

    /// <summary>Streams <paramref name="method"/> of handler <paramref name="type"/> in the worker, each chunk as the worker sends it.</summary>
    public async IAsyncEnumerable<GenericStreamingChunk> StreamAsync<TRequest>(string type, string method, TRequest request, JsonTypeInfo<TRequest> requestInfo, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var process = await AcquireAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Settings.RequestTimeout);
        HttpResponseMessage response;
        StreamReader lines;
        try
        {
            using var message = Message($"stream/{Uri.EscapeDataString(type)}/{method}", request, requestInfo);
            response = await process.Http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, limit.Token);
            lines = new StreamReader(await response.Content.ReadAsStreamAsync(limit.Token));
        }
        catch (Exception ex)
        {
            throw await TranslateAsync(ex, process, cancellationToken, limit.Token);
        }

        using (response)
        using (lines)
        {
            while (true)
            {
                // worker_request_timeout bounds the wait for each frame: a stream may run as long as it keeps sending.
                limit.CancelAfter(Settings.RequestTimeout);
                StreamFrame? frame;
                try
                {
                    var line = await lines.ReadLineAsync(limit.Token) ?? throw new IOException("the worker's stream ended without its last frame");
                    frame = JsonSerializer.Deserialize(line, WorkerJson.Default.StreamFrame) ?? throw new JsonException("a null frame");
                }
                catch (Exception ex)
                {
                    throw await TranslateAsync(ex, process, cancellationToken, limit.Token);
                }

                if (frame.Error is not null || frame.End)
                {
                    Succeeded();
                    await ReadToEndAsync(lines, limit.Token);
                    if (frame.Error is { } error)
                    {
                        throw error.ToException();
                    }

                    yield break;
                }

                yield return frame.Chunk!;
            }
        }
    }

    /// <summary>
    /// Reads the rest of a finished stream (the worker ends it right after its last frame), so its connection goes
    /// back to the pool instead of being closed for an unread end and opened again by the next call.
    /// </summary>
    private static async Task ReadToEndAsync(StreamReader lines, CancellationToken cancellationToken)
    {
        try
        {
            while (await lines.ReadLineAsync(cancellationToken) is not null)
            {
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            // The answer is complete; only the connection is lost.
        }
    }

    private static HttpRequestMessage Message<TRequest>(string path, TRequest request, JsonTypeInfo<TRequest> info)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(request, info));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        return new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
    }

    /// <summary>The worker answered with an error: the handler's own, or one about the call.</summary>
    private async Task<Exception> ErrorOfAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        WorkerError? error = null;
        try
        {
            error = await response.Content.ReadFromJsonAsync(WorkerJson.Default.WorkerError, cancellationToken);
        }
        catch (JsonException)
        {
        }

        // The worker is alive and answered: whatever the handler did, this is not a crash.
        Succeeded();
        return error?.ToException() ?? new WorkerCallException(502, $"failed: its worker answered HTTP {(int)response.StatusCode}");
    }

    /// <summary>
    /// What a failed call means for the client: the caller's own cancellation stays itself; the worker's time limit is a
    /// 504; a lost connection is the worker dying, a 502 that says how (waiting a moment for the process to exit).
    /// </summary>
    private async Task<Exception> TranslateAsync(Exception exception, WorkerProcess process, CancellationToken caller, CancellationToken limit)
    {
        if (caller.IsCancellationRequested)
        {
            return exception;
        }

        if (limit.IsCancellationRequested)
        {
            return new WorkerCallException(504, $"did not answer within worker_request_timeout ({Settings.RequestTimeout.TotalSeconds:0.###} s); the call was cancelled, and a worker whose handler ignores cancellation is restarted.", "timeout");
        }

        if (exception is JsonException)
        {
            return new WorkerCallException(502, $"failed: its worker sent an answer that cannot be read ({exception.Message})");
        }

        await process.Exited.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return process.HasExited
            ? new WorkerCallException(502, $"crashed: its worker process (pid {process.Pid}) {process.ExitDescription}. The worker is restarted.", "worker_crashed")
            : new WorkerCallException(502, $"failed: the connection to its worker process (pid {process.Pid}) broke ({exception.Message})", "worker_crashed");
    }

    private void Succeeded() => Volatile.Write(ref _crashesInARow, 0);

    /// <summary>The ready worker; while one restarts, waits for it; with the circuit open, a 503 with <c>Retry-After</c>.</summary>
    private ValueTask<WorkerProcess> AcquireAsync(CancellationToken cancellationToken)
    {
        Task<WorkerProcess> ready;
        lock (_gate)
        {
            switch (State)
            {
                case WorkerState.Ready:
                    return ValueTask.FromResult(_process);
                case WorkerState.CircuitOpen:
                    throw CircuitOpen();
                case WorkerState.Stopped:
                    throw new WorkerCallException(503, "is unavailable: its worker process was stopped.", "worker_stopped");
                default:
                    ready = _ready.Task;
                    break;
            }
        }

        return new ValueTask<WorkerProcess>(ready.WaitAsync(cancellationToken));
    }

    private WorkerCallException CircuitOpen()
    {
        var until = CircuitOpenUntil ?? DateTimeOffset.UtcNow;
        var wait = until - DateTimeOffset.UtcNow;
        return new WorkerCallException(503, $"is unavailable: its worker process crashed {CrashesInARow} times in a row (last: {LastExit}); the circuit is open until {until:O}.", "worker_circuit_open")
        {
            RetryAfter = wait > TimeSpan.FromSeconds(1) ? wait : TimeSpan.FromSeconds(1),
        };
    }

    private void Watch(WorkerProcess process) => _ = process.Exited.ContinueWith(_ => OnExited(process), TaskScheduler.Default);

    /// <summary>A worker died: restart it after a backoff, or open the circuit if it keeps dying.</summary>
    private void OnExited(WorkerProcess process)
    {
        TimeSpan delay;
        lock (_gate)
        {
            if (State == WorkerState.Stopped || !ReferenceEquals(process, _process))
            {
                return;
            }

            LastExit = process.ExitDescription;
            delay = Crashed();
        }

        Log.WorkerDied(_logger, _file.Name, process.Pid, LastExit, CrashesInARow, State == WorkerState.CircuitOpen);
        _metrics.WorkerCrashed(_file.Name, State == WorkerState.CircuitOpen);
        _ = RestartAfterAsync(delay);
    }

    /// <summary>Counts a crash (under the lock) and says how long to wait before the next start.</summary>
    private TimeSpan Crashed()
    {
        var crashes = Interlocked.Increment(ref _crashesInARow);
        if (_ready.Task.IsCompleted)
        {
            _ready = new TaskCompletionSource<WorkerProcess>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        if (crashes >= Settings.CrashLimit)
        {
            State = WorkerState.CircuitOpen;
            CircuitOpenUntil = DateTimeOffset.UtcNow + Settings.CircuitOpen;

            // Whoever waits for the restart gets the 503 now rather than waiting out the circuit.
            var waiting = _ready;
            _ready = new TaskCompletionSource<WorkerProcess>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting.TrySetException(CircuitOpen());
            return Settings.CircuitOpen;
        }

        State = WorkerState.Restarting;
        return TimeSpan.FromMilliseconds(Math.Min(5000, 100 * (1 << Math.Min(crashes, 6))));
    }

    private async Task RestartAfterAsync(TimeSpan delay)
    {
        await Task.Delay(delay);
        Dictionary<string, WorkerHandler> handlers;
        lock (_gate)
        {
            if (State == WorkerState.Stopped)
            {
                return;
            }

            State = WorkerState.Restarting;
            handlers = new(_handlers);
        }

        WorkerProcess? process = null;
        try
        {
            (process, _) = await WorkerProcess.StartAsync(_file, _sha256, _dependencies, Settings, _constructorTimeout, ReadyTimeout, _logger);
            foreach (var type in handlers.Keys)
            {
                await CreateAsync(process, type);
            }
        }
        catch (Exception ex)
        {
            process?.Kill();
            process?.Dispose();
            TimeSpan next;
            lock (_gate)
            {
                if (State == WorkerState.Stopped)
                {
                    return;
                }

                LastExit = $"could not start again: {ex.Message}";
                next = Crashed();
            }

            Log.WorkerDied(_logger, _file.Name, 0, LastExit, CrashesInARow, State == WorkerState.CircuitOpen);
            _metrics.WorkerCrashed(_file.Name, State == WorkerState.CircuitOpen);
            _ = RestartAfterAsync(next);
            return;
        }

        TaskCompletionSource<WorkerProcess> ready;
        var old = _process;
        lock (_gate)
        {
            if (State == WorkerState.Stopped)
            {
                process.Kill();
                process.Dispose();
                return;
            }

            _process = process;
            State = WorkerState.Ready;
            CircuitOpenUntil = null;
            Restarts++;
            ready = _ready;
        }

        old.Dispose();
        Watch(process);
        ready.TrySetResult(process);
        Log.WorkerStarted(_logger, _file.Name, process.Pid, process.StartedIn.TotalMilliseconds);
    }

    /// <summary>
    /// Stops the worker for good (its version was drained and is being unloaded, or the proxy stops): asks it to exit,
    /// kills it if it does not. Every caller waits for the same stop.
    /// </summary>
    public Task StopAsync()
    {
        lock (_gate)
        {
            if (_stopped is null)
            {
                State = WorkerState.Stopped;
                _stopped = StopOnceAsync(_process, _ready);
            }

            return _stopped;
        }
    }

    private async Task StopOnceAsync(WorkerProcess process, TaskCompletionSource<WorkerProcess> waiting)
    {
        await Task.Yield();

        waiting.TrySetException(new WorkerCallException(503, "is unavailable: its worker process was stopped.", "worker_stopped"));
        await process.StopAsync(StopGrace);
        process.Dispose();
        Log.WorkerStopped(_logger, _file.Name, process.Pid);
    }
}
