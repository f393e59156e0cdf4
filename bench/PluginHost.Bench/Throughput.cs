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
        var cpu = ServerCpu.From(args);
        var cpuTarget = args.Double("cpu-target", double.NaN);
        var scripts = new Dictionary<Target, string> { [a] = WriteScript(a), [b] = WriteScript(b) };

        // Warm both sides before anything is measured: tiered JIT keeps promoting methods for tens of seconds
        // under load (more of them on the proxy's longer path), and the connection pools fill.
        var warmup = args.Int("warmup", 10);
        foreach (var side in new[] { a, b })
        {
            await WrkAsync(side, scripts[side], warmup, connections);
        }

        var ratios = new List<double>();
        var cpuA = new List<double>();
        var cpuB = new List<double>();
        var cpuAdded = new List<double>();
        var cpuColumns = cpu is null ? "" : $" {a.Label} CPU µs/request | {b.Label} CPU µs/request | added |";
        var details = new StringBuilder($"**{args.String("title")}** — wrk, 1 thread, {connections} connections, {seconds} s per side per round{(cpu is null ? "" : "; CPU per request = the server processes' user + system time (/proc/PID/stat) over the requests served")}\n\n| round | {a.Label} req/s | {b.Label} req/s | ratio | errors |{cpuColumns}\n|---|---|---|---|---|{(cpu is null ? "" : "---|---|---|")}\n");
        var errors = 0L;
        for (var round = 1; round <= rounds; round++)
        {
            var order = round % 2 == 1 ? new[] { a, b } : [b, a];
            var results = new Dictionary<Target, WrkResult>();
            foreach (var side in order)
            {
                var before = cpu?.Seconds() ?? 0;
                var result = await WrkAsync(side, scripts[side], seconds, connections);
                results[side] = cpu is null ? result : result with { CpuMicroseconds = (cpu.Seconds() - before) * 1e6 / Math.Max(1, result.Requests) };
            }

            var ratio = results[a].RequestsPerSecond / results[b].RequestsPerSecond;
            ratios.Add(ratio);
            var roundErrors = results[a].Errors + results[b].Errors;
            errors += roundErrors;
            var cpuCells = "";
            if (cpu is not null)
            {
                cpuA.Add(results[a].CpuMicroseconds);
                cpuB.Add(results[b].CpuMicroseconds);
                cpuAdded.Add(results[a].CpuMicroseconds - results[b].CpuMicroseconds);
                cpuCells = string.Create(CultureInfo.InvariantCulture, $" {results[a].CpuMicroseconds:0.0} | {results[b].CpuMicroseconds:0.0} | {cpuAdded[^1]:+0.0;−0.0} |");
            }

            details.Append(CultureInfo.InvariantCulture, $"| {round} | {results[a].RequestsPerSecond:0} | {results[b].RequestsPerSecond:0} | {ratio:0.000} | {roundErrors} |{cpuCells}\n");
        }

        var median = Stats.Median(ratios);
        var throughput = $"{Report.F(median, "0.00")}× (rounds: {string.Join(", ", ratios.Select(r => Report.F(r, "0.00")))}){(errors > 0 ? $"; {errors} errors" : "")}";
        var met = median >= target && errors == 0;
        var targetText = $"≥ {Report.F(target, "0.0")}×";
        if (cpu is not null)
        {
            // The headline: the CPU a request costs the server core, this side minus the other (rounds' median).
            var added = Stats.Median(cpuAdded);
            throughput = $"CPU per request {(added < 0 ? "−" : "+")}{Report.F(Math.Abs(added), "0.0")} µs ({Report.F(Stats.Median(cpuA), "0.0")} µs {a.Label} vs {Report.F(Stats.Median(cpuB), "0.0")} µs {b.Label}; added per round: {string.Join(", ", cpuAdded.Select(c => Report.F(c, "0.0")))}); throughput {throughput}";
            if (!double.IsNaN(cpuTarget))
            {
                met &= added <= cpuTarget;
                targetText = $"≤ +{Report.F(cpuTarget, "0")} µs CPU per request; {targetText}";
            }
        }

        report.Detail(details.ToString());
        report.Row(args.String("number"), args.String("title"), throughput, targetText, met);
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

        var requests = RequestCount().Match(output);
        return new WrkResult(double.Parse(rps.Groups[1].Value, CultureInfo.InvariantCulture), errors, requests.Success ? long.Parse(requests.Groups[1].Value, CultureInfo.InvariantCulture) : 0);
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex RequestCount();

    [GeneratedRegex(@"(?:Non-2xx or 3xx responses:|connect|read|write|timeout)\s+(\d+)")]
    private static partial Regex ErrorCounts();

    /// <param name="CpuMicroseconds">The server processes' CPU time per request served during the run (with <c>--cpu-pids</c>).</param>
    private sealed record WrkResult(double RequestsPerSecond, long Errors, long Requests, double CpuMicroseconds = 0);
}
