using System.Runtime.InteropServices;

namespace PluginHost.Plugins;

/// <summary>
/// Lowers the CPU priority of the calling thread, for housekeeping (reloading plugins) that must never take the
/// core from requests. On Linux the thread joins the <c>SCHED_IDLE</c> class: it runs only when no request thread on
/// its CPU wants to, and a request thread that wakes takes the CPU from it at once. A nice value of 19 (the fallback
/// where <c>SCHED_IDLE</c> is refused) only shrinks the thread's share: once it runs, a request that wakes can wait out
/// its time slice, 1 to 3 ms, which is what a swap added to the tail latency of the requests on a one-core host
/// (BENCHMARKS.md row 5). The runtime starts threads in the normal class (they keep only the nice value): a thread that
/// works for a lowered one (a handler's constructor thread) lowers itself too, when <see cref="IsCurrentThreadLowered"/>
/// says its creator was. Elsewhere it does nothing.
/// </summary>
internal static class BackgroundPriority
{
    private const int PrioProcess = 0;
    private const int LowestNice = 19;
    private const int SchedIdle = 5;

    [ThreadStatic]
    private static bool t_lowered;

    /// <summary>Whether <see cref="LowerCurrentThread"/> lowered the calling thread.</summary>
    public static bool IsCurrentThreadLowered => t_lowered;

    /// <summary>
    /// Sets the calling thread to nice 19 and moves it to <c>SCHED_IDLE</c> (neither needs a privilege; the nice value is
    /// what is left where the class is refused). Returns whether either took.
    /// </summary>
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
            var niced = SetPriority(PrioProcess, thread, LowestNice) == 0;
            var idle = SetScheduler(thread, SchedIdle, ref parameters) == 0;
            t_lowered = niced || idle;
            return t_lowered;
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
