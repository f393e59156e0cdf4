using System.Globalization;

namespace PluginHost.Bench;

/// <summary>
/// Opens N slow streams on the echo handler (a pause of <c>delay_ms</c> between words) so that all of them are
/// open at once, checks every one completes with the exact text, and reports the proxy's resident memory
/// while they are all open, against before: the memory one open stream costs.
/// </summary>
internal static class SlowStreams
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var target = args.Target('a');
        var report = args.Report();
        var count = args.Int("streams", 1000);
        var words = args.Int("words", 20);
        var pid = args.Int("pid", 0);
        var content = string.Join(' ', Enumerable.Range(0, words).Select(i => $"w{i}"));
        var body = ChatClient.Body(target.Model, stream: true, content);
        using var client = new ChatClient(TimeSpan.FromSeconds(90));
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        // Warm the path with a few streams so the figure is the streams' memory, not first-use JIT and pools.
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => SseReader.ReadAsync(client, target, body, null, bound.Token)));
        await Task.Delay(500);
        var before = Stats.RssBytes(pid);

        var open = 0;
        var maxOpen = 0;
        var peakAllOpen = 0L;
        var peakAny = 0L;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                var rss = Stats.RssBytes(pid);
                peakAny = Math.Max(peakAny, rss);
                if (Volatile.Read(ref open) == count)
                {
                    peakAllOpen = Math.Max(peakAllOpen, rss);
                }

                await Task.Delay(25, CancellationToken.None);
            }
        });

        var started = DateTime.UtcNow;
        var tasks = new List<Task<StreamTrace>>(count);
        for (var i = 0; i < count; i++)
        {
            // Open in batches: a burst of 1,000 connects at once would overflow Kestrel's listen backlog and measure SYN retries.
            if (i > 0 && i % 100 == 0)
            {
                await Task.Delay(100);
            }

            tasks.Add(OneAsync());
        }

        var traces = await Task.WhenAll(tasks);
        var elapsed = DateTime.UtcNow - started;
        await sampling.CancelAsync();
        await sampler;
        var after = Stats.RssBytes(pid);

        var ok = traces.Count(t => t.Error is null && t.Text == content);
        // If the streams never were all open together, the overall peak is the closest figure (and the row says missed).
        var peak = peakAllOpen > 0 ? peakAllOpen : peakAny;
        var perStream = (peak - before) / (double)count;
        report.Detail(string.Create(CultureInfo.InvariantCulture, $"""
            **{args.String("title")}** — {count} streams of {words} words, {args.String("delay-ms")} ms between words, opened 100 every 100 ms
            
            - completed with the exact text and [DONE]: {ok}/{count}; most open at once: {maxOpen}; whole run {elapsed.TotalSeconds:0.0} s
            - proxy RSS before {Stats.Mb(before):0.0} MB, while all {count} were open (peak) {Stats.Mb(peak):0.0} MB, after {Stats.Mb(after):0.0} MB
            - memory per open stream: {perStream / 1024:0.0} KB (RSS delta / {count})
            {string.Join("\n", traces.Select(t => t.Error).OfType<string>().Distinct().Take(3).Select(e => "- failure: " + e))}
            """));
        report.Row(
            args.String("number"),
            args.String("title"),
            string.Create(CultureInfo.InvariantCulture, $"{ok}/{count} complete and exact, {maxOpen} open at once; {perStream / 1024:0.0} KB RSS per open stream ({Stats.Mb(before):0} → {Stats.Mb(peak):0} MB)"),
            "all complete; memory per stream reported",
            ok == count && maxOpen == count);
        return 0;

        async Task<StreamTrace> OneAsync()
        {
            var trace = await SseReader.ReadAsync(client, target, body, () =>
            {
                var now = Interlocked.Increment(ref open);
                InterlockedMax(ref maxOpen, now);
            }, bound.Token);
            if (trace.ArrivalsMs.Count > 0)
            {
                Interlocked.Decrement(ref open);
            }

            return trace;
        }
    }

    private static void InterlockedMax(ref int location, int value)
    {
        int current;
        while ((current = Volatile.Read(ref location)) < value && Interlocked.CompareExchange(ref location, value, current) != current)
        {
        }
    }
}
