using System.Globalization;

namespace PluginHost.Bench;

/// <summary>
/// The CPU time the server processes have used so far: user + system time of every listed process (all its
/// threads) from <c>/proc/PID/stat</c>. Read before and after a load, divided by the requests served, it is
/// the CPU one request costs the server core; unlike throughput it hardly moves when other tenants take CPU
/// time from the core (they slow the servers down, but do not add to the servers' own time).
/// </summary>
internal sealed class ServerCpu(IReadOnlyList<int> pids)
{
    /// <summary>USER_HZ, the unit of <c>/proc/PID/stat</c>'s times: 100 on every Linux architecture .NET runs on.</summary>
    private const double TicksPerSecond = 100;

    /// <summary>The processes named by <c>--cpu-pids</c> (comma-separated), or null when none are.</summary>
    public static ServerCpu? From(BenchArgs args) =>
        args.Optional("cpu-pids") is { Length: > 0 } list
            ? new ServerCpu(list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray())
            : null;

    /// <summary>The processes' user + system time so far, in seconds.</summary>
    public double Seconds()
    {
        long ticks = 0;
        foreach (var pid in pids)
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields 14 (utime) and 15 (stime) of proc(5); fields[0] is field 3.
            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }

        return ticks / TicksPerSecond;
    }
}
