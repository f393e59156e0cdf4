using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PluginHost.Bench;

/// <summary>
/// Closed-loop throughput with wrk (a fixed number of connections as fast as the server answers), side A and
/// side B alternated within each round (A,B then B,A…), the ratio taken per round and its median reported.
/// </summary>
internal static partial class Throughput
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var (a, b) = args.Pair();
        var report = args.Report();
        var rounds = args.Int("rounds", 3);
        var seconds = args.Int("seconds", 8);
        var connections = args.Int("connections", 32);
        var target = args.Double("target", 0.8);
        var scripts = new Dictionary<Target, string> { [a] = WriteScript(a), [b] = WriteScript(b) };

        // Warm both sides before anything is measured: tiered JIT keeps promoting methods for tens of seconds
        // under load (more of them on the proxy's longer path), and the connection pools fill.
        var warmup = args.Int("warmup", 10);
        foreach (var side in new[] { a, b })
        {
            await WrkAsync(side, scripts[side], warmup, connections);
        }

        var ratios = new List<double>();
        var details = new StringBuilder($"**{args.String("title")}** — wrk, 1 thread, {connections} connections, {seconds} s per side per round\n\n| round | {a.Label} req/s | {b.Label} req/s | ratio | errors |\n|---|---|---|---|---|\n");
        var errors = 0L;
        for (var round = 1; round <= rounds; round++)
        {
            var order = round % 2 == 1 ? new[] { a, b } : [b, a];
            var results = new Dictionary<Target, WrkResult>();
            foreach (var side in order)
            {
                results[side] = await WrkAsync(side, scripts[side], seconds, connections);
            }

            var ratio = results[a].RequestsPerSecond / results[b].RequestsPerSecond;
            ratios.Add(ratio);
            var roundErrors = results[a].Errors + results[b].Errors;
            errors += roundErrors;
            details.Append(CultureInfo.InvariantCulture, $"| {round} | {results[a].RequestsPerSecond:0} | {results[b].RequestsPerSecond:0} | {ratio:0.000} | {roundErrors} |\n");
        }

        var median = Stats.Median(ratios);
        report.Detail(details.ToString());
        report.Row(
            args.String("number"),
            args.String("title"),
            $"{Report.F(median, "0.00")}× (rounds: {string.Join(", ", ratios.Select(r => Report.F(r, "0.00")))}){(errors > 0 ? $"; {errors} errors" : "")}",
            $"≥ {Report.F(target, "0.0")}×",
            median >= target && errors == 0);
        foreach (var script in scripts.Values)
        {
            File.Delete(script);
        }

        return 0;
    }

    private static string WriteScript(Target target)
    {
        var body = Encoding.UTF8.GetString(ChatClient.Body(target, stream: false)).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal);
        var path = Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}.lua");
        var auth = target.Key is null ? "" : $"wrk.headers[\"Authorization\"] = \"Bearer {target.Key}\"\n";
        File.WriteAllText(path, $"wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n{auth}wrk.body = '{body}'\n");
        return path;
    }

    private static async Task<WrkResult> WrkAsync(Target target, string script, int seconds, int connections)
    {
        var start = new ProcessStartInfo("wrk")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { "-t1", $"-c{connections}", $"-d{seconds}s", "--timeout", "10s", "-s", script, target.Url },
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start wrk");
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var rps = RequestsPerSecond().Match(output);
        if (process.ExitCode != 0 || !rps.Success)
        {
            throw new InvalidOperationException($"wrk failed on {target.Url}: {output} {await process.StandardError.ReadToEndAsync()}");
        }

        var errors = 0L;
        foreach (Match match in ErrorCounts().Matches(output))
        {
            errors += long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        return new WrkResult(double.Parse(rps.Groups[1].Value, CultureInfo.InvariantCulture), errors);
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"(?:Non-2xx or 3xx responses:|connect|read|write|timeout)\s+(\d+)")]
    private static partial Regex ErrorCounts();

    private sealed record WrkResult(double RequestsPerSecond, long Errors);
}
