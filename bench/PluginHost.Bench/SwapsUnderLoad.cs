using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PluginHost.Bench;

/// <summary>
/// A fixed-rate load on the swap handler, in phases with and without its DLL being overwritten in the
/// plugins folder every <c>interval-ms</c> (v1, v2, v1…; the host's watcher reloads it). Every request must
/// succeed; the p99 of the swap phases is compared with the p99 of the steady ones. Phases alternate over rounds.
/// </summary>
internal static class SwapsUnderLoad
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var target = args.Target('a');
        var report = args.Report();
        var rounds = args.Int("rounds", 2);
        var rate = args.Int("rate", 300);
        var phase = TimeSpan.FromSeconds(args.Int("seconds", 12));
        var interval = TimeSpan.FromMilliseconds(args.Int("interval-ms", 1000));
        var destination = args.String("plugin-dll");
        string[] versions = [args.String("v1"), args.String("v2")];
        using var client = new ChatClient();

        File.Copy(versions[0], destination, overwrite: true);
        await Task.Delay(1000);
        await FixedRateLoad.RunAsync(client, target, rate, TimeSpan.FromSeconds(2), "swap v");

        var ratios = new List<double>();
        var steady = new List<double>();
        var swapping = new List<double>();
        var failures = new List<string>();
        var answers = new Dictionary<string, int>(StringComparer.Ordinal);
        var swaps = 0;
        var inPlace = 0;
        var swapTimes = new List<long>();
        var slow = new List<string>();
        var afterOverwrite = new List<(double SinceMs, double LatencyMs)>();
        var warmupSwaps = args.Int("warmup-swaps", 40);
        var details = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"**{args.String("title")}** — open loop at {rate} req/s, {phase.TotalSeconds:0} s phases, the DLL overwritten every {interval.TotalMilliseconds:0} ms in swap phases, after {warmupSwaps} warm-up swaps under the same load (not counted)\n\n| round | phase | p50 | p99 | max | failures | swaps |\n|---|---|---|---|---|---|---|\n"));

        // Warm the reload path as the other rows warm the request path: the first few dozen reloads of a process run
        // code the JIT then promotes (once-per-reload methods after 30 reloads), and that recompilation competes with
        // the requests on the proxy's core. Measured rounds start once the proxy has reloaded like one that has swapped
        // before; how much more the first swaps cost is reported in BENCHMARKS.md.
        if (warmupSwaps > 0)
        {
            using var warming = new CancellationTokenSource();
            var warmInterval = TimeSpan.FromMilliseconds(args.Int("warmup-interval-ms", 400));
            var copies = SwapAsync(warmInterval, warming.Token);
            await FixedRateLoad.RunAsync(client, target, rate, warmInterval * warmupSwaps, "swap v");
            await warming.CancelAsync();
            await copies;
            lock (swapTimes)
            {
                swapTimes.Clear();
            }

            inPlace = 0;
            File.Copy(versions[inPlace], destination, overwrite: true);
            await Task.Delay(3000);
        }

        for (var round = 1; round <= rounds; round++)
        {
            var roundP99 = new double[2];
            foreach (var withSwaps in round % 2 == 1 ? new[] { false, true } : [true, false])
            {
                using var stop = new CancellationTokenSource();
                var swapper = withSwaps ? SwapAsync(interval, stop.Token) : Task.FromResult(0);
                var result = await FixedRateLoad.RunAsync(client, target, rate, phase, "swap v");
                await stop.CancelAsync();
                var done = await swapper;
                if (withSwaps)
                {
                    // Let the last reload and unload finish, so the next steady phase is steady.
                    await Task.Delay(1500);
                }

                swaps += done;
                (withSwaps ? swapping : steady).AddRange(result.LatenciesMs);
                roundP99[withSwaps ? 1 : 0] = result.P99;
                slow.AddRange(DescribeSlow(result, swapTimes, withSwaps ? "swaps" : "steady", round));
                if (withSwaps)
                {
                    afterOverwrite.AddRange(SinceOverwrite(result, swapTimes));
                }
                failures.AddRange(result.Failures);
                foreach (var (answer, n) in result.Answers)
                {
                    answers[answer] = answers.GetValueOrDefault(answer) + n;
                }

                details.Append(CultureInfo.InvariantCulture, $"| {round} | {(withSwaps ? "swaps" : "steady")} | {Report.Ms(result.P50)} | {Report.Ms(result.P99)} | {Report.Ms(result.Max)} | {result.Failures.Count} | {done} |\n");
            }

            ratios.Add(roundP99[1] / roundP99[0]);
        }

        // Give the last swap time to settle, then ask the host what became of every retired version.
        await Task.Delay(3000);
        var states = await RetiredStatesAsync(client, args.String("plugins-url"), target.Key);
        var p99Steady = Stats.Percentile(steady, 99);
        var p99Swaps = Stats.Percentile(swapping, 99);
        // The headline pools every request of each condition (the p99 "during swaps" is the p99 of all requests sent
        // while swapping); the per-round ratios are listed too, but one noisy neighbour in one phase swings those.
        var ratio = p99Swaps / p99Steady;
        details.Append(CultureInfo.InvariantCulture, $"\nAnswers seen: {string.Join(", ", answers.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"\"{p.Key}\" ×{p.Value}"))}. Retired SwapHandler versions by state (GET /plugins): {string.Join(", ", states.Select(p => $"{p.Key} {p.Value}"))}.\n");
        details.Append(DescribeTail(afterOverwrite, p99Steady, interval));
        details.Append(slow.Count == 0
            ? "\nNo request took over 100 ms.\n"
            : $"\nRequests over 100 ms, with when they were sent relative to the last DLL overwrite: {string.Join("; ", slow.Take(20))}{(slow.Count > 20 ? $" … ({slow.Count} in all)" : "")}.\n");
        foreach (var failure in failures.Distinct().Take(5))
        {
            details.Append(CultureInfo.InvariantCulture, $"\nfailure: {failure}\n");
        }

        report.Detail(details.ToString());
        report.Row(
            args.String("number"),
            args.String("title"),
            $"{failures.Count} failed of {steady.Count + swapping.Count}; {swaps} swaps; p99 with swaps / steady: {Report.F(ratio)}× ({Report.Ms(p99Swaps)} vs {Report.Ms(p99Steady)} over the {swapping.Count} and {steady.Count} requests of {rounds} interleaved rounds; per round: {string.Join(", ", ratios.Select(r => Report.F(r)))}, median {Report.F(Stats.Median(ratios))}×)",
            "0 failed; ≥ 20 swaps; p99 ≤ 2×",
            failures.Count == 0 && swaps >= 20 && ratio <= 2);
        return 0;

        async Task<int> SwapAsync(TimeSpan every, CancellationToken cancellationToken)
        {
            var count = 0;
            try
            {
                while (true)
                {
                    await Task.Delay(every, cancellationToken);
                    inPlace = 1 - inPlace;
                    File.Copy(versions[inPlace], destination, overwrite: true);
                    lock (swapTimes)
                    {
                        swapTimes.Add(System.Diagnostics.Stopwatch.GetTimestamp());
                    }

                    count++;
                }
            }
            catch (OperationCanceledException)
            {
                // The load phase is over.
            }

            return count;
        }
    }

    private static async Task<SortedDictionary<string, int>> RetiredStatesAsync(ChatClient client, string url, string? key)
    {
        using var status = await client.GetJsonAsync(url, key);
        var states = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var plugin in status.RootElement.GetProperty("retired").EnumerateArray())
        {
            if (plugin.GetProperty("name").GetString() == "SwapHandler")
            {
                var state = plugin.GetProperty("state").GetString() ?? "?";
                states[state] = states.GetValueOrDefault(state) + 1;
            }
        }

        return states;
    }

    /// <summary>Each request of a swap phase with the time since the DLL was last overwritten when it was sent.</summary>
    private static IEnumerable<(double SinceMs, double LatencyMs)> SinceOverwrite(LoadResult result, List<long> swapTimes)
    {
        long[] swaps;
        lock (swapTimes)
        {
            swaps = [.. swapTimes];
        }

        for (var i = 0; i < result.LatenciesMs.Length; i++)
        {
            var sent = result.DueAt(i);
            var last = swaps.Where(t => t <= sent).DefaultIfEmpty(long.MinValue).Max();
            if (last != long.MinValue)
            {
                yield return (System.Diagnostics.Stopwatch.GetElapsedTime(last, sent).TotalMilliseconds, result.LatenciesMs[i]);
            }
        }
    }

    /// <summary>
    /// Where in the swap cycle the slow requests of the swap phases fall: per 100 ms after an overwrite, how many
    /// requests were sent, how many took longer than the steady phases' p99, and how many longer than 1 ms.
    /// </summary>
    private static string DescribeTail(List<(double SinceMs, double LatencyMs)> samples, double steadyP99, TimeSpan interval)
    {
        var buckets = (int)Math.Ceiling(interval.TotalMilliseconds / 100);
        var sent = new int[buckets + 1];
        var over = new int[buckets + 1];
        // A fixed bar too: the steady p99 moves with the other tenants, so runs compare by this one.
        var overOneMs = new int[buckets + 1];
        foreach (var (since, latency) in samples)
        {
            var bucket = Math.Min((int)(since / 100), buckets);
            sent[bucket]++;
            over[bucket] += latency > steadyP99 ? 1 : 0;
            overOneMs[bucket] += latency > 1.0 ? 1 : 0;
        }

        var cells = Enumerable.Range(0, buckets + 1)
            .Where(b => sent[b] > 0)
            .Select(b => string.Create(CultureInfo.InvariantCulture, $"{(b == buckets ? $"≥{b * 100}" : $"{b * 100}–{(b + 1) * 100}")} ms: {over[b]} of {sent[b]} ({overOneMs[b]} over 1 ms)"));
        return string.Create(CultureInfo.InvariantCulture, $"\nSwap phases, requests slower than the steady p99 ({Report.Ms(steadyP99)}) by when they were sent after the last overwrite: {string.Join("; ", cells)}.\n");
    }

    private static IEnumerable<string> DescribeSlow(LoadResult result, List<long> swapTimes, string phase, int round)
    {
        long[] swaps;
        lock (swapTimes)
        {
            swaps = [.. swapTimes];
        }

        for (var i = 0; i < result.LatenciesMs.Length; i++)
        {
            if (result.LatenciesMs[i] <= 100)
            {
                continue;
            }

            var sent = result.DueAt(i);
            var last = swaps.Where(t => t <= sent).DefaultIfEmpty(long.MinValue).Max();
            var since = last == long.MinValue ? "no overwrite yet" : $"{System.Diagnostics.Stopwatch.GetElapsedTime(last, sent).TotalMilliseconds:0} ms after one";
            yield return string.Create(CultureInfo.InvariantCulture, $"{result.LatenciesMs[i]:0} ms (round {round} {phase}, {since})");
        }
    }
}
