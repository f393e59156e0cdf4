using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Garnet;

namespace PluginHost.Tests.Infrastructure;

/// <summary>
/// A real RESP server on a free loopback port with its own temporary folder, for the shared-state tests:
/// <see cref="Garnet"/> (Microsoft Research's Garnet, hosted in this process from the Microsoft.Garnet package, so
/// nothing needs installing) or <see cref="RedisServer"/> (Debian's <c>redis-server</c>, when it is on the PATH).
/// It can be stopped mid-test and started again on the same port, empty, as a restarted store would be.
/// </summary>
internal abstract class RespServer : IAsyncDisposable
{
    public const string Garnet = "garnet";
    public const string RedisServer = "redis-server";

    /// <summary>Set to 1 (as <c>.ci/run</c> does) to make a missing <c>redis-server</c> a failure rather than a skip.</summary>
    public const string RequireRedisVariable = "PLUGINHOST_REQUIRE_REDIS";

    private const string InstallHint = "apt-get install -y redis-server";

    protected RespServer(int port)
    {
        Port = port;
        Directory = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "resp-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public int Port { get; }

    /// <summary>Where the proxy's <c>redis_host</c>/<c>redis_port</c> point.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    protected string Directory { get; }

    /// <summary>
    /// Reports the test skipped when <paramref name="kind"/> is <c>redis-server</c> and it is not installed, or
    /// fails it when <see cref="RequireRedisVariable"/> is 1. Garnet is always there.
    /// </summary>
    public static void RequireInstalled(string kind)
    {
        if (kind != RedisServer || FindOnPath("redis-server") is not null)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable(RequireRedisVariable) == "1")
        {
            Assert.Fail($"redis-server not installed, and {RequireRedisVariable}=1 requires it: {InstallHint}");
        }

        Assert.Ignore($"redis-server not installed: {InstallHint}");
    }

    /// <summary>Starts a <paramref name="kind"/> server on a free port and waits until it accepts connections.</summary>
    public static async Task<RespServer> StartAsync(string kind)
    {
        RequireInstalled(kind);
        RespServer server = kind switch
        {
            Garnet => new GarnetRespServer(FreePort()),
            RedisServer => new RedisRespServer(FreePort(), FindOnPath("redis-server")!),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "garnet or redis-server"),
        };
        try
        {
            await server.StartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>A loopback port nothing listens on (just now).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts (again) on <see cref="Port"/>, with nothing stored, and waits until it accepts connections.</summary>
    public async Task StartAsync()
    {
        Start();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !HasExited)
            {
                await Task.Delay(20);
            }
        }
    }

    /// <summary>Whether the server died on its own (a child process that exited); the wait for it then stops at once.</summary>
    protected virtual bool HasExited => false;

    /// <summary>Stops the server at once, dropping its connections and everything it stored.</summary>
    public abstract Task StopAsync();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    protected abstract void Start();

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    /// <summary>Garnet in this process: no persistence (no AOF, no checkpoints), a small log and index, quiet.</summary>
    private sealed class GarnetRespServer(int port) : RespServer(port)
    {
        private GarnetServer? _server;

        public override Task StopAsync()
        {
            // Disposing closes the listener and every client connection: to a client, the store is gone.
            _server?.Dispose();
            _server = null;
            return Task.CompletedTask;
        }

        protected override void Start()
        {
            _server = new GarnetServer(
            [
                "--bind", "127.0.0.1",
                "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--memory", "64m",
                "--page", "1m",
                "--index", "1m",
                "--checkpointdir", Directory,
                "--logger-level", "None",
                "--disable-console-logger",
                "-q",
            ]);
            _server.Start();
        }
    }

    /// <summary><c>redis-server</c> as a child process: no RDB snapshots, no AOF, its files in the temporary folder.</summary>
    private sealed class RedisRespServer(int port, string program) : RespServer(port)
    {
        private Process? _process;

        protected override bool HasExited => _process?.HasExited ?? false;

        public override async Task StopAsync()
        {
            if (_process is not { } process)
            {
                return;
            }

            _process = null;
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        protected override void Start()
        {
            var start = new ProcessStartInfo(program) { UseShellExecute = false };
            foreach (var argument in new[]
            {
                "--bind", "127.0.0.1",
                "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--save", "",
                "--appendonly", "no",
                "--dir", Directory,
                "--logfile", Path.Combine(Directory, "redis.log"),
            })
            {
                start.ArgumentList.Add(argument);
            }

            _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start");
        }
    }
}
