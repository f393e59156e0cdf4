using PluginHost.Sdk;

namespace Leaky;

/// <summary>
/// A handler that can never be unloaded: its constructor starts a thread that runs the plugin's own code
/// forever, which keeps its load context alive. The host must report it as leaked, not hang or crash.
/// </summary>
public sealed class LeakyLlm : CustomLlm
{
    public LeakyLlm()
    {
        var thread = new Thread(SpinForever) { IsBackground = true, Name = "leaky-plugin" };
        thread.Start();
    }

    public override ModelResponse Completion(ChatCompletionRequest request) => ModelResponse.FromText("leaky");

    private static void SpinForever()
    {
        while (true)
        {
            Thread.Sleep(1000);
        }
    }
}
