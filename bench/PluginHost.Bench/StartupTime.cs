using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace PluginHost.Bench;

/// <summary>
/// From process start to the first successful chat completion, for two commands (the proxy and the minimal
/// app), alternated over rounds after one unmeasured start of each (so both read from a warm disk cache).
/// </summary>
internal static class StartupTime
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var (a, b) = args.Pair();
        var report = args.Report();
        var rounds = args.Int("rounds", 5);
        var commands = new Dictionary<Target, string> { [a] = args.String("a-cmd"), [b] = args.String("b-cmd") };
        var times = new Dictionary<Target, List<double>> { [a] = [], [b] = [] };
        await StartOnceAsync(a, commands[a]);
        await StartOnceAsync(b, commands[b]);
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var side in round % 2 == 1 ? new[] { a, b } : [b, a])
            {
                times[side].Add(await StartOnceAsync(side, commands[side]));
            }
        }

        var medianA = Stats.Median(times[a]);
        var medianB = Stats.Median(times[b]);
        var details = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"**{args.String("title")}** — {rounds} starts each, alternated; ms from process start to the first 200 with the expected answer\n\n| side | starts (ms) | median |\n|---|---|---|\n"));
        foreach (var side in new[] { a, b })
        {
            details.Append(CultureInfo.InvariantCulture, $"| {side.Label} | {string.Join(", ", times[side].Select(t => t.ToString("0", CultureInfo.InvariantCulture)))} | {Stats.Median(times[side]):0} |\n");
        }

        report.Detail(details.ToString());
        report.Row(
            args.String("number"),
            args.String("title"),
            string.Create(CultureInfo.InvariantCulture, $"{medianA:0} ms vs {medianB:0} ms = {medianA / medianB:0.00}×"),
            "reported as a ratio",
            null);
        return 0;
    }

    private static async Task<double> StartOnceAsync(Target side, string command)
    {
        using var client = new ChatClient(TimeSpan.FromSeconds(5));
        var body = ChatClient.Body(side.Model, stream: false);
        var started = Stopwatch.GetTimestamp();
        using var process = Process.Start(new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", $"exec {command} >/dev/null 2>&1" } })
            ?? throw new InvalidOperationException($"cannot start {command}");
        try
        {
            while (true)
            {
                var (_, error, _) = await client.CompleteAsync(side, body, "Hi!");
                if (error is null)
                {
                    return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                if (process.HasExited || Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(30))
                {
                    throw new InvalidOperationException($"{side.Label} did not answer (exited: {process.HasExited}): {error}");
                }

                await Task.Delay(1);
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
