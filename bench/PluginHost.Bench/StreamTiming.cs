using System.Globalization;
using System.Text;

namespace PluginHost.Bench;

/// <summary>
/// Streaming through the forwarder versus straight from the mock upstream, whose chunks are spaced by a known
/// delay: the time to the first content chunk, the gaps between chunks, and whether any chunk arrived glued
/// to another (which would mean the proxy buffered). A and B alternate over rounds.
/// </summary>
internal static class StreamTiming
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var (a, b) = args.Pair();
        var report = args.Report();
        var rounds = args.Int("rounds", 3);
        var streams = args.Int("streams", 40);
        var concurrency = args.Int("concurrency", 4);
        var chunks = args.Int("chunks", 20);
        var delay = args.Double("chunk-delay-ms", 10);
        var target = args.Double("target", 0.5);
        var expected = string.Concat(Enumerable.Range(0, chunks).Select(i => $"tok{i} "));
        using var client = new ChatClient();

        foreach (var side in new[] { a, b })
        {
            await RunSideAsync(client, side, concurrency * 2, concurrency);
        }

        var traces = new Dictionary<Target, List<StreamTrace>> { [a] = [], [b] = [] };
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var side in round % 2 == 1 ? new[] { a, b } : [b, a])
            {
                traces[side].AddRange(await RunSideAsync(client, side, streams, concurrency));
            }
        }

        var summary = new Dictionary<Target, Summary>
        {
            [a] = Summarize(traces[a], expected),
            [b] = Summarize(traces[b], expected),
        };
        var details = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"**{args.String("title")}** — upstream sends {chunks} chunks, the first after 2 ms, then one every {delay:0} ms, each stamped with its send time; {rounds} rounds × {streams} streams per side, {concurrency} at a time\n\n| side | streams ok | request to first chunk p50 | p99 | first chunk transit p50 | p99 | chunk transit p50 | chunk transit p99 | gap p50 | gap p1–p99 | chunks glued to another |\n|---|---|---|---|---|---|---|---|---|---|---|\n"));
        foreach (var side in new[] { a, b })
        {
            var s = summary[side];
            details.Append(CultureInfo.InvariantCulture, $"| {side.Label} | {s.Ok}/{s.Total} | {Report.Ms(s.FirstP50)} | {Report.Ms(s.FirstP99)} | {Report.Ms(s.FirstTransitP50)} | {Report.Ms(s.FirstTransitP99)} | {Report.Ms(s.TransitP50)} | {Report.Ms(s.TransitP99)} | {Report.Ms(s.GapP50)} | {Report.F(s.GapP1, "0.0")}–{Report.F(s.GapP99, "0.0")} ms | {s.Coalesced} |\n");
        }

        details.Append("\nChunk transit: from the upstream writing a chunk to the client reading it, per chunk (the upstream stamps each token with its Stopwatch time; both run on this machine's monotonic clock). A proxy that buffered would add about one chunk interval to it. \"Read together\": chunks that reached the client in the same read as an earlier one; it happens on the direct path too whenever the client is descheduled for longer than a chunk interval.\n");
        foreach (var error in traces[a].Concat(traces[b]).Select(t => t.Error).OfType<string>().Distinct().Take(3))
        {
            details.Append(CultureInfo.InvariantCulture, $"\nfailure: {error}\n");
        }

        report.Detail(details.ToString());
        var sa = summary[a];
        var sb = summary[b];
        // What the proxy adds to the first chunk: its transit (from the upstream's write to the client's read), which the
        // upstream's own timer jitter does not blur; the time from the request to the first chunk is reported beside it.
        var addedFirst = sa.FirstTransitP50 - sb.FirstTransitP50;
        var addedTransit = sa.TransitP50 - sb.TransitP50;
        var allOk = sa.Ok == sa.Total && sb.Ok == sb.Total;
        report.Row(
            args.String("number"),
            args.String("title"),
            $"first chunk {Report.SignedMs(addedFirst)} p50 in transit ({Report.SignedMs(sa.FirstTransitP99 - sb.FirstTransitP99)} p99; request to first chunk {Report.SignedMs(sa.FirstP50 - sb.FirstP50)} p50); each chunk {Report.SignedMs(addedTransit)} p50 ({Report.SignedMs(sa.TransitP99 - sb.TransitP99)} p99) in transit; gap p50 {Report.Ms(sa.GapP50)} vs {Report.Ms(sb.GapP50)}; {sa.Coalesced} vs {sb.Coalesced} chunks read together with another; {sa.Ok}/{sa.Total} streams intact",
            $"≤ +{Report.F(target, "0.0")} ms first chunk; each chunk forwarded as it arrives (≤ +{Report.F(target, "0.0")} ms transit p50)",
            allOk && addedFirst <= target && addedTransit <= target);
        return 0;
    }

    private static async Task<List<StreamTrace>> RunSideAsync(ChatClient client, Target side, int streams, int concurrency)
    {
        var body = ChatClient.Body(side.Model, stream: true);
        var results = new List<StreamTrace>();
        var next = 0;
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            var mine = new List<StreamTrace>();
            while (Interlocked.Increment(ref next) <= streams)
            {
                mine.Add(await SseReader.ReadAsync(client, side, body, null, CancellationToken.None));
            }

            return mine;
        });
        foreach (var list in await Task.WhenAll(workers))
        {
            results.AddRange(list);
        }

        return results;
    }

    private static Summary Summarize(List<StreamTrace> traces, string expected)
    {
        var ok = traces.Where(t => t.Error is null && t.Text == expected).ToList();
        var first = ok.Select(t => t.FirstChunkMs).ToList();
        var gaps = ok.SelectMany(t => t.Gaps).ToList();
        var transits = ok.SelectMany(t => t.TransitsMs).ToList();
        var firstTransits = ok.Where(t => t.TransitsMs.Count > 0).Select(t => t.TransitsMs[0]).ToList();
        return new Summary(
            ok.Count,
            traces.Count,
            Stats.Percentile(first, 50),
            Stats.Percentile(first, 99),
            Stats.Percentile(firstTransits, 50),
            Stats.Percentile(firstTransits, 99),
            Stats.Percentile(transits, 50),
            Stats.Percentile(transits, 99),
            Stats.Percentile(gaps, 50),
            Stats.Percentile(gaps, 1),
            Stats.Percentile(gaps, 99),
            traces.Sum(t => t.Coalesced));
    }

    private sealed record Summary(int Ok, int Total, double FirstP50, double FirstP99, double FirstTransitP50, double FirstTransitP99, double TransitP50, double TransitP99, double GapP50, double GapP1, double GapP99, int Coalesced);
}
