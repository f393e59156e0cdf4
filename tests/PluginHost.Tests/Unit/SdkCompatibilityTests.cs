using System.Reflection;
using System.Runtime.Loader;
using PluginHost.Plugins;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests.Unit;

/// <summary>
/// The SDK check as a pure function of a plugin's metadata and a host's SDK assembly: here the host's SDK is also
/// played by the test-only 1.1.0 build, to prove that a plugin built against an older minor version loads.
/// </summary>
public sealed class SdkCompatibilityTests
{
    /// <summary>This test build's configuration folder (<c>debug</c> or <c>release</c>): the 1.1.0 SDK is built beside it.</summary>
    private static readonly string BuildConfiguration = Path.GetFileName(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));

    private AssemblyLoadContext? _later;
    private Assembly _laterSdk = null!;

    [OneTimeSetUp]
    public void LoadTheLaterSdk()
    {
        _later = new AssemblyLoadContext("sdk 1.1", isCollectible: true);
        _laterSdk = _later.LoadFromAssemblyPath(Path.Combine(TestPaths.RepoRoot, "artifacts", "bin", "FutureSdk.V1_1", BuildConfiguration, "PluginHost.Sdk.dll"));
    }

    [OneTimeTearDown]
    public void Unload() => _later?.Unload();

    private static byte[] Plugin(string project, string assembly) => File.ReadAllBytes(Path.Combine(TestPaths.TestPlugin(project), assembly + ".dll"));

    [Test]
    public void A_plugin_built_against_the_same_SDK_is_compatible() =>
        Assert.That(SdkCompatibility.Check(Plugin("TestHandlers", "TestHandlers"), SdkCompatibility.HostSdk), Is.Null);

    [Test]
    public void A_plugin_built_against_an_older_minor_SDK_is_compatible() =>
        Assert.That(SdkCompatibility.Check(Plugin("TestHandlers", "TestHandlers"), _laterSdk), Is.Null);

    [Test]
    public void A_plugin_that_uses_a_member_the_later_host_has_is_compatible_with_it() =>
        Assert.That(SdkCompatibility.Check(Plugin("Future.MinorMissing", "Future.MinorMissing"), _laterSdk), Is.Null);

    [Test]
    public void A_newer_minor_plugin_is_checked_member_by_member()
    {
        Assert.That(SdkCompatibility.Check(Plugin("Future.MinorCompatible", "Future.MinorCompatible"), SdkCompatibility.HostSdk), Is.Null);
        Assert.That(SdkCompatibility.Check(Plugin("Future.MinorMissing", "Future.MinorMissing"), SdkCompatibility.HostSdk), Does.Contain("lacks: PluginHost.Sdk.CustomLlm.DescribeSdk()"));
    }

    [Test]
    public void A_plugin_of_another_major_is_refused_by_every_host_of_this_major()
    {
        Assert.That(SdkCompatibility.Check(Plugin("Future.Major", "Future.Major"), SdkCompatibility.HostSdk), Does.Contain("different major version"));
        Assert.That(SdkCompatibility.Check(Plugin("Future.Major", "Future.Major"), _laterSdk), Does.Contain("different major version"));
    }

    [Test]
    public void A_plugin_that_does_not_reference_the_SDK_is_not_the_checks_business() =>
        Assert.That(SdkCompatibility.Check(File.ReadAllBytes(typeof(NUnit.Framework.Assert).Assembly.Location), SdkCompatibility.HostSdk), Is.Null);
}
