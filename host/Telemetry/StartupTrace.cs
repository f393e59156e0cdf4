using System.Diagnostics;

namespace PluginHost.Telemetry;

/// <summary>
/// With <c>PLUGINHOST_STARTUP_TRACE=1</c>, writes one line to standard error per startup step: milliseconds since
/// the process started, and since the step before (how BENCHMARKS.md row 7 was taken apart). Otherwise nothing.
/// </summary>
internal static class StartupTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("PLUGINHOST_STARTUP_TRACE") == "1";
    private static long _last;

    /// <summary>Marks the end of the step <paramref name="step"/>.</summary>
    public static void Mark(string step)
    {
        if (!Enabled)
        {
            return;
        }

        var now = DateTime.UtcNow;
        var started = Process.GetCurrentProcess().StartTime.ToUniversalTime();
        var total = (now - started).TotalMilliseconds;
        var previous = Interlocked.Exchange(ref _last, now.Ticks);
        var sincePrevious = previous == 0 ? total : TimeSpan.FromTicks(now.Ticks - previous).TotalMilliseconds;
        var jitted = System.Runtime.JitInfo.GetCompiledMethodCount();
        var jitTime = System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds;
        Console.Error.WriteLine($"startup {total,7:0.0} ms (+{sincePrevious,6:0.0}) {step}; JIT so far: {jitted} methods, {jitTime:0.0} ms");
    }
}
