using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PluginHost.Configuration;
using PluginHost.Plugins;

namespace PluginHost.Workers;

/// <summary>
/// One running worker process: the host binary in its <c>worker</c> mode (<see cref="WorkerProgram"/>), started with the
/// <c>dotnet</c> muxer, and an <see cref="HttpClient"/> connected to its Unix socket. Its standard input is a pipe the
/// proxy never writes to: when the proxy closes it, or dies, the worker exits.
/// </summary>
internal sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _socket;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _reason;

    private WorkerProcess(Process process, string socket, ILogger logger, string plugin)
    {
        _process = process;
        _socket = socket;
        Pid = process.Id;
        Http = new HttpClient(new SocketsHttpHandler
        {
            // As YARP configures its forwarder's handler: nothing between the two ends but the socket.
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            ConnectCallback = ConnectAsync,
        })
        {
            BaseAddress = new Uri("http://worker/"),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        process.OutputDataReceived += (_, e) => Forward(e.Data, LogLevel.Information);
        process.ErrorDataReceived += (_, e) => Forward(e.Data, LogLevel.Warning);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _ = WatchExitAsync();

        void Forward(string? line, LogLevel level)
        {
            if (string.IsNullOrEmpty(line))
            {
                return;
            }

            if (line.StartsWith(WorkerProgram.ReasonPrefix, StringComparison.Ordinal))
            {
                Volatile.Write(ref _reason, line[WorkerProgram.ReasonPrefix.Length..]);
            }

            Log.WorkerOutput(logger, level, plugin, Pid, line);
        }
    }

    public int Pid { get; }

    /// <summary>How long it took from starting the process to its first answer on the socket.</summary>
    public TimeSpan StartedIn { get; private set; }

    public HttpClient Http { get; }

    /// <summary>Completes when the process has exited.</summary>
    public Task Exited => _exited.Task;

    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>How it ended, for messages: its exit code or signal, and the reason the worker gave, if any.</summary>
    public string ExitDescription
    {
        get
        {
            var code = _process.ExitCode;
            var how = code switch
            {
                0 => "exited",
                WorkerProgram.Refused => "refused its assembly",
                134 => "was aborted (SIGABRT: Environment.FailFast, a stack overflow, an unhandled exception or a native crash)",
                137 => "was killed (SIGKILL)",
                139 => "crashed (SIGSEGV)",
                > 128 and < 160 => $"was killed by signal {code - 128}",
                _ => $"exited with code {code}",
            };
            return Volatile.Read(ref _reason) is { } reason ? $"{how}: {reason}" : how;
        }
    }

    /// <summary>
    /// Starts a worker for <paramref name="plugin"/> and waits, at most <paramref name="readyTimeout"/>, until it answers
    /// on its socket. Throws with why it did not start (it refused its assembly, exited, or never answered).
    /// </summary>
    public static async Task<(WorkerProcess Process, WorkerHello Hello)> StartAsync(PluginFile plugin, string sha256, IReadOnlyList<WorkerDependency> dependencies, WorkerSettings settings, TimeSpan constructorTimeout, TimeSpan readyTimeout, ILogger logger)
    {
        var socket = Path.Combine(Path.GetTempPath(), $"pluginhost-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}.sock");
        var start = new ProcessStartInfo(Muxer)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[HostAssembly, WorkerProgram.Command, "--plugin", plugin.Path, "--sha256", sha256, "--socket", socket, "--request-timeout", Seconds(settings.RequestTimeout), "--constructor-timeout", Seconds(constructorTimeout)])
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var dependency in dependencies)
        {
            start.ArgumentList.Add("--dependency");
            start.ArgumentList.Add(dependency.Argument);
        }

        // The proxy's --inline-io is for the proxy's own sockets: in a worker, a handler that blocks would stall them.
        start.Environment.Remove("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS");
        if (settings.MemoryMb is { } megabytes)
        {
            start.Environment["DOTNET_GCHeapHardLimit"] = ((long)megabytes * 1024 * 1024).ToString("X", CultureInfo.InvariantCulture);
        }

        var started = Stopwatch.GetTimestamp();
        var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {Muxer}");
        var worker = new WorkerProcess(process, socket, logger, plugin.Name);
        try
        {
            while (true)
            {
                if (worker.HasExited)
                {
                    var refused = process.ExitCode == WorkerProgram.Refused && worker._reason?.Contains("the proxy validated", StringComparison.Ordinal) == true;
                    var message = $"its worker process {worker.ExitDescription}";
                    throw refused ? new IOException(message) : new InvalidOperationException(message);
                }

                if (File.Exists(socket))
                {
                    try
                    {
                        using var ready = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                        var hello = await worker.Http.GetFromJsonAsync("ready", WorkerJson.Default.WorkerHello, ready.Token);
                        if (hello is not null)
                        {
                            worker.StartedIn = Stopwatch.GetElapsedTime(started);
                            return (worker, hello);
                        }
                    }
                    catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
                    {
                        // Not listening yet.
                    }
                }

                if (Stopwatch.GetElapsedTime(started) > readyTimeout)
                {
                    throw new InvalidOperationException($"its worker process (pid {worker.Pid}) did not get ready within {readyTimeout.TotalSeconds:0} s");
                }

                await Task.WhenAny(worker.Exited, Task.Delay(20));
            }
        }
        catch
        {
            worker.Kill();
            worker.Dispose();
            throw;
        }
    }

    /// <summary>Asks the worker to stop (closes its standard input), and kills it if it has not within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }

        try
        {
            await Exited.WaitAsync(grace);
        }
        catch (TimeoutException)
        {
            Kill();
            await Exited.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Kills the worker (and anything it started) now.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        Http.Dispose();
        _process.Dispose();
        try
        {
            File.Delete(_socket);
        }
        catch (IOException)
        {
        }
    }

    private async Task WatchExitAsync()
    {
        try
        {
            await _process.WaitForExitAsync();
        }
        finally
        {
            _exited.TrySetResult();
        }
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(_socket), cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The host assembly (this one), run in its worker mode: the same file whether the proxy runs as a tool, from a build, or inside a test.</summary>
    private static string HostAssembly => typeof(PluginHostApplication).Assembly.Location;

    /// <summary>
    /// The <c>dotnet</c> muxer that runs the host assembly: <c>DOTNET_HOST_PATH</c> when set (the SDK sets it), this
    /// process when it is the muxer, else the one that installed the running runtime (<c>…/shared/Microsoft.NETCore.App/X/</c>
    /// is three folders below it), else <c>dotnet</c> on the PATH.
    /// </summary>
    private static readonly string Muxer = FindMuxer();

    private static string FindMuxer()
    {
        var name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        if (Environment.ProcessPath is { } self && Path.GetFileName(self) == name)
        {
            return self;
        }

        var runtime = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd(Path.DirectorySeparatorChar);
        if (Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(runtime))) is { } root && File.Exists(Path.Combine(root, name)))
        {
            return Path.Combine(root, name);
        }

        return name;
    }
}

/// <summary>
/// A dependency assembly the proxy checked against the trust settings (<see cref="PluginAdmission"/>): the worker loads
/// it only if its bytes still have this SHA-256, and loads those bytes.
/// </summary>
internal sealed record WorkerDependency(string Path, string Sha256)
{
    /// <summary>As the worker's <c>--dependency</c> argument: <c>SHA256:PATH</c>.</summary>
    public string Argument => $"{Sha256}:{Path}";

    public static WorkerDependency Parse(string argument) => new(argument[(argument.IndexOf(':', StringComparison.Ordinal) + 1)..], argument[..argument.IndexOf(':', StringComparison.Ordinal)]);
}
