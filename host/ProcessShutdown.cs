using System.Diagnostics;
using System.Runtime.InteropServices;

namespace PluginHost;

/// <summary>
/// Ends the process after a stop (Ctrl+C, SIGTERM), whatever plugins left behind. The host first finishes running
/// requests (up to <c>--shutdown-timeout</c>); then the proxy is disposed (its plugins' handlers included) within
/// <c>--shutdown-timeout</c> more; then <see cref="Environment.Exit"/> ends the process even if a plugin started
/// foreground threads or timers. A watchdog armed when the stop begins ends the process the hard way if even that
/// hangs (a plugin's <see cref="AppDomain.ProcessExit"/> handler that never returns).
/// </summary>
/// <remarks>Exit codes: <see cref="Clean"/>, <see cref="Forced"/>, <see cref="Killed"/> (README, Stopping).</remarks>
internal static class ProcessShutdown
{
    /// <summary>Every request finished or was cut at the timeout, and the proxy was disposed in time.</summary>
    public const int Clean = 0;

    /// <summary>Disposing the proxy did not finish within the timeout (a plugin's <c>Dispose</c> hung); the process exited anyway.</summary>
    public const int Forced = 3;

    /// <summary>Even exiting hung (a process-exit handler, or the stop itself): the watchdog ended the process.</summary>
    public const int Killed = 4;

    /// <summary>How long exiting (process-exit handlers, flushing) may take once the proxy is disposed.</summary>
    public static readonly TimeSpan ExitGrace = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Waits for <paramref name="app"/> to stop, disposes it (bounded) and ends the process with the exit code. Returns
    /// only if <see cref="Environment.Exit"/> does (never in practice).
    /// </summary>
    public static async Task<int> RunAsync(WebApplication app, TimeSpan shutdownTimeout)
    {
        var watchdog = new Watchdog();
        using var armed = app.Lifetime.ApplicationStopping.Register(() => watchdog.Arm(shutdownTimeout + shutdownTimeout + ExitGrace));
        await app.WaitForShutdownAsync();

        // On a thread of its own: a handler's Dispose may block the disposing thread, not just never complete a task.
        // What goes wrong from here on is written to standard error directly: the loggers are being disposed too.
        var code = Clean;
        var disposed = Task.Run(async () => await app.DisposeAsync());
        if (await Task.WhenAny(disposed, Task.Delay(shutdownTimeout)) != disposed)
        {
            code = Forced;
            await Console.Error.WriteLineAsync($"PluginHost: stopping did not finish within --shutdown-timeout {shutdownTimeout.TotalSeconds:0.###} s (a plugin's Dispose may hang); exiting with code {Forced}.");
        }
        else if (disposed.Exception is { } failed)
        {
            code = Forced;
            await Console.Error.WriteLineAsync($"PluginHost: stopping failed ({failed.GetBaseException().Message}); exiting with code {Forced}.");
        }

        watchdog.Arm(ExitGrace);
        Environment.Exit(code);
        return code;
    }

    /// <summary>A background thread that ends the process with <see cref="Killed"/> when its deadline passes; arming again moves the deadline.</summary>
    private sealed class Watchdog
    {
        private long _deadline = long.MaxValue;
        private Thread? _thread;

        public void Arm(TimeSpan after)
        {
            Volatile.Write(ref _deadline, Stopwatch.GetTimestamp() + (long)(after.TotalSeconds * Stopwatch.Frequency));
            if (Interlocked.CompareExchange(ref _thread, new Thread(Watch) { IsBackground = true, Name = "shutdown-watchdog" }, null) is null)
            {
                _thread!.Start();
            }
        }

        private void Watch()
        {
            while (Stopwatch.GetTimestamp() < Volatile.Read(ref _deadline))
            {
                Thread.Sleep(50);
            }

            Console.Error.WriteLine($"PluginHost: the process did not end in time (a plugin's process-exit handler or thread may hang); ending it with code {Killed}.");
            HardExit(Killed);
        }
    }

    /// <summary>Ends the process now: no process-exit handlers, no finalizers, nothing a plugin can hold up.</summary>
    private static void HardExit(int code)
    {
        if (OperatingSystem.IsWindows())
        {
            TerminateProcess(Process.GetCurrentProcess().Handle, (uint)code);
        }
        else
        {
            UnixExit(code);
        }

        Environment.FailFast("PluginHost: the process could not be ended.");
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void UnixExit(int status);

    [DllImport("kernel32", EntryPoint = "TerminateProcess")]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool TerminateProcess(IntPtr process, uint exitCode);
}
