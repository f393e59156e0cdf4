using System.Globalization;
using System.Text;

namespace PluginHost.Bench;

/// <summary>
/// The latency a side adds at a fixed, moderate rate (nobody queues): A and B alternated over many short
/// rounds. The headline is the median over rounds of each round's added p99, so a round that a neighbour's
/// burst of CPU hit does not decide the result; the p99 over all samples is reported beside it.
/// </summary>
internal static class LatencyAtFixedRate
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var (a, b) = args.Pair();
        var report = args.Report();
        var rounds = args.Int("rounds", 3);
        var rate = args.Int("rate", 500);
        var duration = TimeSpan.FromSeconds(args.Int("seconds", 10));
        var target = args.Double("target", 0.3);
        var expect = args.Optional("expect") ?? "Hi!";
        using var client = new ChatClient();

        foreach (var side in new[] { a, b })
        {
            await FixedRateLoad.RunAsync(client, side, rate, TimeSpan.FromSeconds(2), expect);
        }

        var all = new Dictionary<Target, List<double>> { [a] = [], [b] = [] };
        var addedPerRound = new List<double>();
        var p99PerRound = new Dictionary<Target, List<double>> { [a] = [], [b] = [] };
        var failures = 0;
        var details = new StringBuilder($"**{args.String("title")}** — open loop at {rate} req/s, {duration.TotalSeconds:0} s per side per round\n\n| round | {a.Label} p50 | {a.Label} p99 | {b.Label} p50 | {b.Label} p99 | added p99 | failures |\n|---|---|---|---|---|---|---|\n");
        for (var round = 1; round <= rounds; round++)
        {
            var order = round % 2 == 1 ? new[] { a, b } : [b, a];
            var results = new Dictionary<Target, LoadResult>();
            foreach (var side in order)
            {
                results[side] = await FixedRateLoad.RunAsync(client, side, rate, duration, expect);
                all[side].AddRange(results[side].LatenciesMs);
            }

            addedPerRound.Add(results[a].P99 - results[b].P99);
            p99PerRound[a].Add(results[a].P99);
            p99PerRound[b].Add(results[b].P99);
            var roundFailures = results[a].Failures.Count + results[b].Failures.Count;
            failures += roundFailures;
            details.Append(CultureInfo.InvariantCulture, $"| {round} | {Report.Ms(results[a].P50)} | {Report.Ms(results[a].P99)} | {Report.Ms(results[b].P50)} | {Report.Ms(results[b].P99)} | {Report.SignedMs(results[a].P99 - results[b].P99)} | {roundFailures} |\n");
            foreach (var failure in results[a].Failures.Concat(results[b].Failures).Take(3))
            {
                details.Append(CultureInfo.InvariantCulture, $"\nfailure: {failure}\n");
            }
        }

        var p99A = Stats.Percentile(all[a], 99);
        var p99B = Stats.Percentile(all[b], 99);
        var p50A = Stats.Percentile(all[a], 50);
        var p50B = Stats.Percentile(all[b], 50);
        // Two estimates of the added p99, both robust to a round that a neighbour's CPU burst hit: the median of
        // the rounds' differences, and the difference of each side's median round p99. The verdict takes the worse.
        var addedPaired = Stats.Median(addedPerRound);
        var addedMedians = Stats.Median(p99PerRound[a]) - Stats.Median(p99PerRound[b]);
        var added = Math.Max(addedPaired, addedMedians);
        var p90Added = Stats.Percentile(all[a], 90) - Stats.Percentile(all[b], 90);
        details.Append(CultureInfo.InvariantCulture, $"\nAll rounds: {a.Label} p50 {Report.Ms(p50A)}, p90 {Report.Ms(Stats.Percentile(all[a], 90))}, p99 {Report.Ms(p99A)}; {b.Label} p50 {Report.Ms(p50B)}, p90 {Report.Ms(Stats.Percentile(all[b], 90))}, p99 {Report.Ms(p99B)}. Added p99: median of the rounds' differences {Report.SignedMs(addedPaired)}; difference of the sides' median round p99 {Report.Ms(Stats.Median(p99PerRound[a]))} − {Report.Ms(Stats.Median(p99PerRound[b]))} = {Report.SignedMs(addedMedians)}.\n");
        report.Detail(details.ToString());
        report.Row(
            args.String("number"),
            args.String("title"),
            $"{Report.SignedMs(added)} p99 (the worse of two robust estimates: {Report.SignedMs(addedPaired)}, {Report.SignedMs(addedMedians)}); {Report.SignedMs(p90Added)} p90; {Report.SignedMs(p50A - p50B)} p50{(failures > 0 ? $"; {failures} failures" : "")}",
            $"≤ +{Report.F(target, "0.0")} ms p99",
            added <= target && failures == 0);
        return 0;
    }
}
