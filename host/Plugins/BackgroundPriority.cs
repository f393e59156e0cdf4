using System.Runtime.InteropServices;

namespace PluginHost.Plugins;

/// <summary>
/// Lowers the CPU priority of the calling thread, for housekeeping (reloading plugins) that must never take the
/// core from requests: on a busy or pinned machine the kernel then runs every request thread first, and the
/// reload uses what is left. Linux only (a thread's nice value); elsewhere it does nothing.
/// </summary>
internal static class BackgroundPriority
{
    private const int PrioProcess = 0;
    private const int LowestNice = 19;

    /// <summary>Sets the calling thread's nice value to 19 (raising it needs no privilege). Returns whether it took.</summary>
    public static bool LowerCurrentThread()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            // With PRIO_PROCESS, Linux takes a thread id and changes only that thread.
            return SetPriority(PrioProcess, GetTid(), LowestNice) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
