using PluginHost.Bench;

// One measuring program, one subcommand per kind of measurement; bench/run.sh starts the servers and calls these.
// Pinned to one CPU, the thread pool would start with a single thread and add more only slowly: a load
// generator must not make its own requests wait for threads.
ThreadPool.GetMinThreads(out var workers, out var io);
ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
var command = args.Length > 0 ? args[0] : "help";
var options = BenchArgs.Parse(args.Skip(1).ToArray());
return command switch
{
    "throughput" => await Throughput.RunAsync(options),
    "latency" => await LatencyAtFixedRate.RunAsync(options),
    "stream" => await StreamTiming.RunAsync(options),
    "slow-streams" => await SlowStreams.RunAsync(options),
    "swaps" => await SwapsUnderLoad.RunAsync(options),
    "cycles" => await UnloadCycles.RunAsync(options),
    "startup" => await StartupTime.RunAsync(options),
    "alloc" => await HotPathAllocations.RunAsync(options),
    "first-chunk" => await IsolationOverhead.FirstChunkAsync(options),
    "workers" => await IsolationOverhead.WorkersAsync(options),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: PluginHost.Bench throughput|latency|stream|slow-streams|swaps|cycles|startup --out DIR [options]; see bench/run.sh");
    return 2;
}
