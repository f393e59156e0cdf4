using PluginHost.Sdk;

namespace Stubborn;

/// <summary>
/// Handlers that try to keep the proxy from exiting. Each answers "stubborn"; what each leaves behind is in its name.
/// </summary>
public sealed class ForegroundThreadLlm : CustomLlm
{
    /// <summary>Starts a foreground thread that never ends: a .NET process does not exit while one runs.</summary>
    public ForegroundThreadLlm()
    {
        var thread = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(1000);
            }
        })
        {
            IsBackground = false,
            Name = "stubborn-foreground",
        };
        thread.Start();
    }

    public override ModelResponse Completion(ChatCompletionRequest request) => ModelResponse.FromText("stubborn");
}

/// <summary>Its Dispose never returns.</summary>
public sealed class HangingDisposeLlm : CustomLlm, IDisposable
{
    public override ModelResponse Completion(ChatCompletionRequest request) => ModelResponse.FromText("stubborn");

    public void Dispose() => Thread.Sleep(Timeout.Infinite);
}

/// <summary>Registers a process-exit handler that never returns, and a foreground thread.</summary>
public sealed class HangingExitLlm : CustomLlm
{
    public HangingExitLlm()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Thread.Sleep(Timeout.Infinite);
    }

    public override ModelResponse Completion(ChatCompletionRequest request) => ModelResponse.FromText("stubborn");
}
