using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace PluginHost.Tests.Infrastructure;

/// <summary>
/// The built host as a real process (<c>dotnet PluginHost.dll</c>) in a temporary folder of its own, its console
/// collected line by line; stopped with a real SIGTERM. Disposing kills whatever is still running.
/// </summary>
internal sealed partial class ProxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Task _reading;

    private ProxyProcess(Process process, string root)
    {
        _process = process;
        Root = root;
        _reading = Task.WhenAll(ReadAsync(process.StandardOutput), ReadAsync(process.StandardError));
    }

    public string Root { get; }

    public HttpClient Http { get; private set; } = null!;

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>A fresh folder with <c>plugins.yaml</c> and <c>plugins/</c>, for <see cref="StartAsync"/>.</summary>
    public static string NewRoot(string yaml, params string[] plugins)
    {
        var root = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "process-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        File.WriteAllText(Path.Combine(root, "plugins.yaml"), yaml);
        foreach (var plugin in plugins)
        {
            TestProxy.InstallPlugin(Path.Combine(root, "plugins"), plugin, plugin);
        }

        return root;
    }

    /// <summary>Starts the proxy on <paramref name="root"/>'s configuration and waits (at most 30 s) until it listens.</summary>
    public static async Task<ProxyProcess> StartAsync(string root, IReadOnlyDictionary<string, string>? environment = null, params string[] args)
    {
        var start = Start([typeof(PluginHostApplication).Assembly.Location, "--config", Path.Combine(root, "plugins.yaml"), "--host", "127.0.0.1", "--port", "0", "--no-watch", .. args], root);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var proxy = new ProxyProcess(Process.Start(start)!, root);
        try
        {
            var listening = await proxy.LineAsync(l => l.Contains("Now listening on", StringComparison.Ordinal));
            proxy.Http = new HttpClient { BaseAddress = new Uri(AddressPattern().Match(listening).Value), Timeout = TimeSpan.FromSeconds(30) };
            proxy.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestProxy.MasterKey);
            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs the built host with <paramref name="args"/> (a command such as <c>hash</c>) to its exit, at most 30 s.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string workingDirectory, params string[] args)
    {
        using var process = Process.Start(Start([typeof(PluginHostApplication).Assembly.Location, .. args], workingDirectory))!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await output, await error);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"pluginhost {string.Join(' ', args)} did not exit within 30 seconds.");
        }
    }

    /// <summary>Sends SIGTERM (what <c>docker stop</c> and systemd send) and waits at most <paramref name="within"/> for the exit code.</summary>
    public async Task<int?> TerminateAsync(TimeSpan within)
    {
        Assert.That(SendSignal(_process.Id, SigTerm), Is.Zero, "kill(SIGTERM)");
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            await _reading.WaitAsync(TimeSpan.FromSeconds(10));
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Waits (at most 30 s) for a console line that <paramref name="matches"/>.</summary>
    public async Task<string> LineAsync(Func<string, bool> matches)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (Lines.FirstOrDefault(matches) is { } line)
            {
                return line;
            }

            if (_process.HasExited && _reading.IsCompleted)
            {
                break;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("No such line. Console:\n" + string.Join('\n', Lines));
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static ProcessStartInfo Start(IEnumerable<string> args, string workingDirectory)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    private async Task ReadAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_lines)
            {
                _lines.Add(line);
            }
        }
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    [GeneratedRegex(@"http://[^\s]+")]
    private static partial Regex AddressPattern();
}
