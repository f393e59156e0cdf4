using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.Bench;

/// <summary>
/// The host's own reload path, in process, N times: overwrite the swap handler's DLL (v1, v2, v1…), reload,
/// serve one request from the new version, and wait until the host has unloaded the old one and seen its
/// load context collected. At the end every retired context must be dead and the managed heap within +1 MB of
/// what it was after 10 cycles; RSS is sampled along the way to show whether it flattens.
/// </summary>
internal static class UnloadCycles
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var report = args.Report();
        var cycles = args.Int("cycles", 1000);
        string[] versions = [args.String("v1"), args.String("v2")];
        var work = Directory.CreateTempSubdirectory("bench-cycles-");
        try
        {
            var pluginDll = Path.Combine(work.FullName, "plugins", "SwapHandler", "SwapHandler.dll");
            Directory.CreateDirectory(Path.GetDirectoryName(pluginDll)!);
            File.Copy(versions[0], pluginDll);
            var config = Path.Combine(work.FullName, "cycles.yaml");
            await File.WriteAllTextAsync(config, """
                model_list:
                  - model_name: swap
                    litellm_params:
                      model: swap/swap-1
                litellm_settings:
                  custom_provider_map:
                    - provider: swap
                      custom_handler: SwapHandler
                """);
            // Checks every 5 ms: this harness measures memory and leaks, not the latency of requests during a swap.
            var options = new PluginHostOptions { ConfigPath = config, Watch = false, UnloadCheckInterval = TimeSpan.FromMilliseconds(5), UnloadSettle = TimeSpan.Zero };
            await using var runtime = new ProxyRuntime(options, NullLogger<ProxyRuntime>.Instance);
            runtime.Initialize();

            var contexts = new List<WeakReference>(cycles);
            var checkpoints = new List<(int Cycle, double HeapMb, double RssMb, double Seconds)>();
            var leaked = 0;
            var timer = Stopwatch.StartNew();
            var heapAt10 = 0L;
            for (var cycle = 1; cycle <= cycles; cycle++)
            {
                var version = cycle % 2;
                File.Copy(versions[version], pluginDll, overwrite: true);
                await runtime.ReloadAsync();
                await ServeOnceAsync(runtime, $"swap v{version + 1}");
                leaked += await WaitForUnloadAsync(runtime, contexts) ? 0 : 1;
                if (cycle is 10 or 100 or 200 or 500 or 750 || cycle == cycles)
                {
                    var heap = SettledHeap();
                    if (cycle == 10)
                    {
                        heapAt10 = heap;
                    }

                    checkpoints.Add((cycle, Stats.Mb(heap), Stats.Mb(Stats.RssBytes(Environment.ProcessId)), timer.Elapsed.TotalSeconds));
                }
            }

            var heapEnd = SettledHeap();
            var alive = contexts.Count(c => c.IsAlive);
            var heapGrowth = Stats.Mb(heapEnd - heapAt10);
            var (first, last) = (checkpoints[0], checkpoints[^1]);
            var half = checkpoints.LastOrDefault(c => c.Cycle <= cycles / 2);
            var rssPerCycleEarly = (half.RssMb - first.RssMb) * 1024 / Math.Max(1, half.Cycle - first.Cycle);
            var rssPerCycleLate = (last.RssMb - half.RssMb) * 1024 / Math.Max(1, last.Cycle - half.Cycle);

            var details = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"**{args.String("title")}** — in process, ProxyRuntime.ReloadAsync after each overwrite, one request per version, wait for the old context to be collected\n\n| after cycle | managed heap | RSS | elapsed |\n|---|---|---|---|\n"));
            foreach (var c in checkpoints)
            {
                details.Append(CultureInfo.InvariantCulture, $"| {c.Cycle} | {c.HeapMb:0.000} MB | {c.RssMb:0.0} MB | {c.Seconds:0.0} s |\n");
            }

            details.Append(CultureInfo.InvariantCulture, $"\nRetired contexts still alive: {alive} of {contexts.Count}; reported leaked by the host: {leaked}. Heap after {cycles} cycles vs after 10: {heapGrowth:+0.000;-0.000} MB. RSS per cycle: {rssPerCycleEarly:0.0} KB (cycles {first.Cycle}–{half.Cycle}), {rssPerCycleLate:0.0} KB (cycles {half.Cycle}–{last.Cycle}). {timer.Elapsed.TotalMilliseconds / cycles:0.0} ms per cycle.\n");
            report.Detail(details.ToString());
            report.Row(
                args.String("number"),
                args.String("title"),
                string.Create(CultureInfo.InvariantCulture, $"{alive} of {contexts.Count} retired contexts alive, {leaked} leaked; heap {heapGrowth:+0.000;-0.000} MB vs cycle 10; RSS {rssPerCycleEarly:0.0} → {rssPerCycleLate:0.0} KB/cycle ({first.RssMb:0} → {last.RssMb:0} MB)"),
            "none alive; heap ≤ +1 MB; RSS per cycle reported",
                alive == 0 && leaked == 0 && heapGrowth <= 1.0);
            return 0;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>One request on the current version. Not inlined: nothing of the handler may stay in the caller's frame.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task ServeOnceAsync(ProxyRuntime runtime, string expected)
    {
        if (runtime.TryLease("swap", out var lease) != LeaseResult.Leased)
        {
            throw new InvalidOperationException("the swap model is not served after a reload");
        }

        using (lease)
        {
            var request = new ChatCompletionRequest
            {
                Model = "swap-1",
                RequestedModel = "swap",
                Messages = [new ChatMessage { Role = ChatRole.User, Content = "hello" }],
            };
            var response = await lease.Binding!.Handler.CompletionAsync(request, CancellationToken.None);
            if (response.Choices[0].Message.Content != expected)
            {
                throw new InvalidOperationException($"expected '{expected}', got '{response.Choices[0].Message.Content}'");
            }
        }
    }

    /// <summary>Waits (bounded) until the version retired by the last reload is unloaded; false if the host reports it leaked.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<bool> WaitForUnloadAsync(ProxyRuntime runtime, List<WeakReference> contexts)
    {
        var retired = runtime.Retired.Last();
        contexts.Add(retired.Context);
        var deadline = Stopwatch.StartNew();
        while (retired.State is not (PluginState.Unloaded or PluginState.Leaked))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"generation {retired.Generation} is still {retired.State} after 30 s");
            }

            await Task.Delay(1);
        }

        return retired.State == PluginState.Unloaded;
    }

    private static long SettledHeap()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
