using System.Runtime.CompilerServices;
using PluginHost.Sdk;

namespace HostileHandlers;

/// <summary>
/// A handler written to hurt whatever process runs it, by the last user message: <c>failfast</c>
/// (<see cref="Environment.FailFast(string)"/>), <c>stack-overflow</c>, <c>oom</c> (allocates until the heap is
/// exhausted), <c>exit</c> (<see cref="Environment.Exit"/> with code 42), <c>spin</c> (loops forever, ignoring
/// cancellation), <c>foreground-thread</c> (starts a foreground thread that never ends, then answers); <c>sleep:MS</c>
/// answers after MS milliseconds (honouring cancellation); anything else answers <c>ok</c>. Streams answer <c>ok</c> in two chunks, or misbehave after the first one with
/// <c>then:COMMAND</c>. Its module initializer marks the process it is loaded into, so a test can prove it never
/// ran in the proxy.
/// </summary>
public sealed class Hostile : CustomLlm
{
    /// <summary>The <see cref="AppContext"/> key the module initializer sets.</summary>
    public const string LoadedMarker = "HostileHandlers.Loaded";

    private static readonly List<byte[]> Hoard = [];

#pragma warning disable CA2255 // Hostile on purpose: plugin code that runs as soon as the assembly is touched.
    [ModuleInitializer]
    internal static void MarkProcess() => AppContext.SetData(LoadedMarker, Environment.ProcessId);
#pragma warning restore CA2255

    public override async Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        var command = request.Messages[^1].Content ?? "";
        if (command.StartsWith("sleep:", StringComparison.Ordinal))
        {
            await Task.Delay(int.Parse(command["sleep:".Length..], System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
        }

        Misbehave(command);
        return ModelResponse.FromText("ok");
    }

    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var command = request.Messages[^1].Content ?? "";
        yield return GenericStreamingChunk.FromText("o");
        await Task.Delay(50, cancellationToken);
        if (command.StartsWith("then:", StringComparison.Ordinal))
        {
            Misbehave(command["then:".Length..]);
        }

        yield return GenericStreamingChunk.FromText("k");
        yield return GenericStreamingChunk.Finished();
    }

    private static void Misbehave(string command)
    {
        switch (command)
        {
            case "failfast":
                Environment.FailFast("a hostile handler asked for it");
                break;
            case "stack-overflow":
                Recurse(0);
                break;
            case "oom":
                while (true)
                {
                    Hoard.Add(new byte[1024 * 1024]);
                }

            case "exit":
                Environment.Exit(42);
                break;
            case "spin":
                SpinForever();
                break;
            case "foreground-thread":
                new Thread(() => Thread.Sleep(Timeout.Infinite)) { IsBackground = false, Name = "hostile-foreground" }.Start();
                break;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Recurse(int depth) => Recurse(depth + 1) + 1;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SpinForever()
    {
        var spins = 0L;
        while (spins >= 0)
        {
            spins = (spins + 1) % long.MaxValue;
        }
    }
}
