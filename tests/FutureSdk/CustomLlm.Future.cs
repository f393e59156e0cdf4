namespace PluginHost.Sdk;

/// <summary>A member the SDK of this repository does not have: only the test-only later SDK builds add it.</summary>
public abstract partial class CustomLlm
{
    /// <summary>What a later SDK says about itself.</summary>
    public static string DescribeSdk() => "a later SDK";
}
