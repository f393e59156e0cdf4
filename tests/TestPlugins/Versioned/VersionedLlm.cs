using System.Runtime.CompilerServices;
using PluginHost.Sdk;

namespace Versioned;

/// <summary>
/// The same handler in several builds (Versioned.V1, .V2, .Throwing, .StaticThrowing, .Hanging, .Renamed), all with assembly name
/// Versioned: the answer names the build, so tests can see which version served a request.
/// </summary>
#if RENAMED
public sealed class RenamedLlm : CustomLlm
#else
public sealed class VersionedLlm : CustomLlm
#endif
{
#if V2
    public const string Answer = "v2";
#else
    public const string Answer = "v1";
#endif

    // A static field the answers read, so a throwing static constructor would fail every request.
    private static readonly string Suffix = InitializeStatics();

#if RENAMED
    public RenamedLlm()
#else
    public VersionedLlm()
#endif
    {
        ConstructedAt = ThreadPriority();
#if THROWING
        throw new InvalidOperationException("this build's constructor always throws");
#endif
#if HANGING
        Thread.Sleep(Timeout.Infinite);
#endif
    }

    /// <summary>
    /// The Linux CPU priority of the thread that constructed this instance: <c>SCHED_IDLE</c>, or its nice value as
    /// <c>nice N</c> in the normal class; "?" elsewhere.
    /// </summary>
    private string ConstructedAt { get; }

    /// <summary>Answers the build's name, or, asked <c>constructed-priority</c>, <see cref="ConstructedAt"/>.</summary>
    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        Task.FromResult(ModelResponse.FromText(request.Messages[^1].Content == "constructed-priority" ? ConstructedAt : Answer + Suffix));

    private static string ThreadPriority()
    {
        // /proc/thread-self/stat: "pid (comm) state ..."; the nice value is the 19th field (the 17th after the comm),
        // the scheduling policy the 41st (the 39th after it; 5 is SCHED_IDLE).
        var stat = File.Exists("/proc/thread-self/stat") ? File.ReadAllText("/proc/thread-self/stat") : null;
        if (stat is null)
        {
            return "?";
        }

        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields[38] == "5" ? "SCHED_IDLE" : $"nice {fields[16]}";
    }

    /// <summary>Streams <c>Answer-0</c>, <c>Answer-1</c>… as many as the last message says, <c>delay_ms</c> apart.</summary>
    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var count = int.TryParse(request.Messages[^1].Content, out var n) ? n : 1;
        var delay = request.Deployment.LitellmParams.TryGetValue("delay_ms", out var value) && value is long ms ? (int)ms : 0;
        for (var i = 0; i < count; i++)
        {
            if (i > 0 && delay > 0)
            {
                await Task.Delay(delay, cancellationToken);
            }

            yield return GenericStreamingChunk.FromText($"{Answer}{Suffix}-{i} ");
        }
    }

#if STATIC_THROWING
    private static string InitializeStatics() => throw new InvalidOperationException("this build's static constructor always throws");
#else
    private static string InitializeStatics() => "";
#endif
}
