using System.Runtime.CompilerServices;
using PluginHost.Sdk;

namespace Marked;

/// <summary>
/// A handler that reports when any of its code runs: its module initializer (which runs as soon as anything of the
/// assembly is used) and its static constructor each write a marker file into the folder named by the environment
/// variable PLUGINHOST_TEST_MARKERS. A plugin that must never have run leaves no marker.
/// </summary>
public sealed class MarkedLlm : CustomLlm
{
    static MarkedLlm() => Marker.Write("static-constructor");

    public override ModelResponse Completion(ChatCompletionRequest request) => ModelResponse.FromText("marked");
}

/// <summary>A second handler type, so a listing shows more than one.</summary>
public sealed class OtherMarkedLlm : CustomLlm
{
    public override ModelResponse Completion(ChatCompletionRequest request) => ModelResponse.FromText("other");
}

internal static class Marker
{
    [ModuleInitializer]
    internal static void ModuleLoaded() => Write("module-initializer");

    public static void Write(string what)
    {
        if (Environment.GetEnvironmentVariable("PLUGINHOST_TEST_MARKERS") is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
            File.AppendAllText(Path.Combine(folder, "Marked." + what), DateTime.UtcNow.ToString("O") + "\n");
        }
    }
}
