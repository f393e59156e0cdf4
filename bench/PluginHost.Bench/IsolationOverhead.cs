using System.Globalization;
using System.Text;

namespace PluginHost.Bench;

/// <summary>
/// What running a handler out of process (<c>isolation: process</c>) costs beside what throughput and latency at a
/// fixed rate show: the added time to a stream's first chunk (<c>first-chunk</c>, side A against side B, alternated
/// over rounds), and what one worker costs (<c>workers</c>: start time and RSS of each worker the proxy runs).
/// </summary>
internal static class IsolationOverhead
{
    /// <summary>Streams through both sides, a few at a time: request to first content chunk, and to the end of the stream.</summary>
    public static async Task<int> FirstChunkAsync(BenchArgs args)
    {
        var (a, b) = args.Pair();
        var report = args.Report();
        var rounds = args.Int("rounds", 6);
        var streams = args.Int("streams", 200);
        var concurrency = args.Int("concurrency", 4);
        var target = args.Double("target", 1);

        // One word by default: the echo handler pauses delay_ms between words, and the first chunk is what is measured.
        var content = args.Optional("content") ?? "hello";
        using var client = new ChatClient();
        var traces = new Dictionary<Target, List<StreamTrace>> { [a] = [], [b] = [] };
        // A worker is a fresh process whose code the JIT has yet to promote: warm both sides well before measuring.
        var warmup = args.Int("warmup", 2000);
        foreach (var side in new[] { a, b })
        {
            await RunAsync(side, warmup);
        }

        traces[a].Clear();
        traces[b].Clear();
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var side in round % 2 == 1 ? new[] { a, b } : [b, a])
            {
                await RunAsync(side, streams);
            }
        }

        var first = new Dictionary<Target, List<double>>();
        var details = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"**{args.String("title")}** — {rounds} rounds × {streams} streams per side, {concurrency} at a time; the echo handler streams \"{content}\"\n\n| side | streams ok | request to first chunk p50 | p99 | whole stream p50 | p99 |\n|---|---|---|---|---|---|\n"));
        foreach (var side in new[] { a, b })
        {
            var ok = traces[side].Where(t => t.Error is null).ToList();
            first[side] = [.. ok.Select(t => t.FirstChunkMs)];
            var whole = ok.Select(t => t.ArrivalsMs[^1]).ToList();
            details.Append(CultureInfo.InvariantCulture, $"| {side.Label} | {ok.Count}/{traces[side].Count} | {Report.Ms(Stats.Median(first[side]))} | {Report.Ms(Stats.Percentile(first[side], 99))} | {Report.Ms(Stats.Median(whole))} | {Report.Ms(Stats.Percentile(whole, 99))} |\n");
        }

        foreach (var error in traces[a].Concat(traces[b]).Select(t => t.Error).OfType<string>().Distinct().Take(3))
        {
            details.Append(CultureInfo.InvariantCulture, $"\nfailure: {error}\n");
        }

        report.Detail(details.ToString());
        var added50 = Stats.Median(first[a]) - Stats.Median(first[b]);
        var added99 = Stats.Percentile(first[a], 99) - Stats.Percentile(first[b], 99);
        var failed = traces.Values.Sum(t => t.Count(x => x.Error is not null));
        report.Row(
            args.String("number"),
            args.String("title"),
            $"first chunk {Report.SignedMs(added50)} at p50, {Report.SignedMs(added99)} at p99 ({a.Label} {Report.Ms(Stats.Median(first[a]))} vs {b.Label} {Report.Ms(Stats.Median(first[b]))}){(failed > 0 ? $"; {failed} failed" : "")}",
            $"p50 ≤ +{Report.F(target, "0.0")} ms",
            added50 <= target && failed == 0);
        return 0;

        async Task RunAsync(Target side, int count)
        {
            using var gate = new SemaphoreSlim(concurrency);
            var sideBody = ChatClient.Body(side.Model, stream: true, content);
            var tasks = Enumerable.Range(0, count).Select(async _ =>
            {
                await gate.WaitAsync();
                try
                {
                    return await SseReader.ReadAsync(client, side, sideBody, null, CancellationToken.None);
                }
                finally
                {
                    gate.Release();
                }
            });
            traces[side].AddRange(await Task.WhenAll(tasks));
        }
    }

    /// <summary>Each worker in <c>GET /plugins</c>: how long it took to start, and its resident memory, beside the proxy's.</summary>
    public static async Task<int> WorkersAsync(BenchArgs args)
    {
        var report = args.Report();
        using var client = new ChatClient();
        using var plugins = await client.GetJsonAsync(args.String("plugins-url"), args.Optional("key"));
        var proxyPid = args.Int("pid", 0);
        var details = new StringBuilder($"**{args.String("title")}**\n\n| plugin | pid | start (process start to ready) | RSS |\n|---|---|---|---|\n");
        var starts = new List<double>();
        var rss = new List<double>();
        foreach (var plugin in plugins.RootElement.GetProperty("plugins").EnumerateArray())
        {
            if (!plugin.TryGetProperty("worker", out var worker) || worker.ValueKind != System.Text.Json.JsonValueKind.Object || worker.GetProperty("pid").ValueKind != System.Text.Json.JsonValueKind.Number)
            {
                continue;
            }

            var pid = worker.GetProperty("pid").GetInt32();
            var start = worker.GetProperty("start_ms").GetDouble();
            var bytes = Stats.RssBytes(pid);
            starts.Add(start);
            rss.Add(Stats.Mb(bytes));
            details.Append(CultureInfo.InvariantCulture, $"| {plugin.GetProperty("name").GetString()} | {pid} | {Report.Ms(start)} | {Stats.Mb(bytes):0.0} MB |\n");
        }

        if (proxyPid > 0)
        {
            details.Append(CultureInfo.InvariantCulture, $"\nThe proxy itself (pid {proxyPid}): {Stats.Mb(Stats.RssBytes(proxyPid)):0.0} MB RSS.\n");
        }

        report.Detail(details.ToString());
        if (starts.Count == 0)
        {
            report.Row(args.String("number"), args.String("title"), "no worker found in /plugins", "reported", met: false);
            return 1;
        }

        report.Row(
            args.String("number"),
            args.String("title"),
            string.Create(CultureInfo.InvariantCulture, $"{starts.Count} workers: start {Report.Ms(Stats.Median(starts))} (median), RSS {Stats.Median(rss):0.0} MB each (median)"),
            "reported",
            met: null);
        return 0;
    }
}
