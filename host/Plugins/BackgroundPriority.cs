using System.Runtime.InteropServices;

namespace PluginHost.Plugins;

/// <summary>
/// Lowers the CPU priority of the calling thread, for housekeeping (reloading plugins) that must never take the
/// core from requests. On Linux the thread joins the <c>SCHED_IDLE</c> class: it runs only when no request thread on
/// its CPU wants to, and a request thread that wakes takes the CPU from it at once. A nice value of 19 (the fallback
/// where <c>SCHED_IDLE</c> is refused) only shrinks the thread's share: once it runs, a request that wakes can wait out
/// its time slice, 1 to 3 ms, which is what a swap added to the tail latency of the requests on a one-core host
/// (BENCHMARKS.md row 5). Threads it starts (a handler's constructor thread) inherit the class. Elsewhere it does nothing.
/// </summary>
internal static class BackgroundPriority
{
    private const int PrioProcess = 0;
    private const int LowestNice = 19;
    private const int SchedIdle = 5;

    /// <summary>Moves the calling thread to <c>SCHED_IDLE</c>, else to nice 19 (neither needs a privilege). Returns whether either took.</summary>
    public static bool LowerCurrentThread()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            // With a thread id, Linux changes only that thread (sched_setscheduler and setpriority alike).
            var thread = GetTid();
            var parameters = new SchedParam();
            return SetScheduler(thread, SchedIdle, ref parameters) == 0 || SetPriority(PrioProcess, thread, LowestNice) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedParam
    {
        public int Priority;
    }

    [DllImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static extern int SetScheduler(int pid, int policy, ref SchedParam parameters);

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
