using System.Collections.Concurrent;
using System.Diagnostics;

namespace PluginHost.Bench;

/// <summary>
/// An open-loop load: request i is sent at start + i/rate whatever the earlier ones are doing (so a slow
/// response cannot hide the queue behind it), each one's latency recorded. wrk2 is not packaged here; this is
/// the fixed-rate client the latency scenarios need.
/// </summary>
internal static class FixedRateLoad
{
    public static async Task<LoadResult> RunAsync(ChatClient client, Target target, int rate, TimeSpan duration, string expect)
    {
        var body = ChatClient.Body(target.Model, stream: false);
        var count = (int)(rate * duration.TotalSeconds);
        var latencies = new double[count];
        var answers = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var failures = new ConcurrentQueue<string>();
        var tasks = new Task[count];
        var interval = Stopwatch.Frequency / (double)rate;

        // No collection in this process while it times requests: a gen0 collection here stalls the sends and the
        // responses in flight for up to a millisecond, and the row would report it as the server's (BENCHMARKS.md,
        // "Row 5: what the tail was"). The budget is set aside (collecting first, if need be) before the clock starts.
        using var noCollections = NoCollections.Start();

        // The schedule runs on its own thread: sleeping a pool thread would delay the responses it must time.
        var start = Stopwatch.GetTimestamp();
        var scheduled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scheduler = new Thread(() =>
        {
            for (var i = 0; i < count; i++)
            {
                var due = start + (long)(i * interval);
                // Sleep, never spin: the load generator's CPU also runs the responses' continuations. Sends
                // may leave up to ~1 ms late; each latency is timed from its actual send.
                while (Stopwatch.GetTimestamp() < due)
                {
                    Thread.Sleep(1);
                }

                tasks[i] = SendAsync(i);
            }

            scheduled.SetResult();
        })
        { IsBackground = true, Name = "fixed-rate scheduler" };
        scheduler.Start();
        // Never block a pool thread to wait for the schedule: pinned to one CPU the pool starts with one thread,
        // and a blocked one stalls every response until the pool injects another (~1 s).
        await scheduled.Task;
        await Task.WhenAll(tasks);
        return new LoadResult(latencies, [.. failures], answers, start, interval);

        async Task SendAsync(int i)
        {
            await Task.Yield();
            var (ms, error, text) = await client.CompleteAsync(target, body, expect);
            latencies[i] = ms;
            if (error is not null)
            {
                failures.Enqueue(error);
                return;
            }

            var at = text.IndexOf(expect, StringComparison.Ordinal);
            var answer = text.AsSpan(at, Math.Min(expect.Length + 1, text.Length - at)).ToString();
            answers.AddOrUpdate(answer, 1, (_, n) => n + 1);
        }
    }
}

/// <summary>
/// A no-GC region for the length of a timed load (<see cref="GC.TryStartNoGCRegion(long)"/>). If the load allocates more
/// than the budget the runtime ends the region itself and collects as usual; nothing fails.
/// </summary>
internal sealed class NoCollections : IDisposable
{
    private const long Budget = 192L * 1024 * 1024;

    private NoCollections()
    {
    }

    public static NoCollections? Start()
    {
        try
        {
            return GC.TryStartNoGCRegion(Budget) ? new NoCollections() : null;
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or InvalidOperationException)
        {
            // A budget the runtime cannot set aside here, or a region already open: time with collections.
            return null;
        }
    }

    public void Dispose()
    {
        if (System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion)
        {
            GC.EndNoGCRegion();
        }
    }
}

/// <summary>Latencies by request index; request i was due at <paramref name="Start"/> + i × <paramref name="Interval"/> (Stopwatch ticks).</summary>
internal sealed record LoadResult(double[] LatenciesMs, IReadOnlyList<string> Failures, IReadOnlyDictionary<string, int> Answers, long Start, double Interval)
{
    public long DueAt(int index) => Start + (long)(index * Interval);

    public double P50 => Stats.Percentile(LatenciesMs, 50);

    public double P99 => Stats.Percentile(LatenciesMs, 99);

    public double Max => LatenciesMs.Length == 0 ? double.NaN : LatenciesMs.Max();
}
