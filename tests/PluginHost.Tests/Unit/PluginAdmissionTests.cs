using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests.Unit;

/// <summary>
/// The admission decision as a function of a plugin file, the bytes that would be loaded and the configuration, and
/// the metadata-only listing of handler types: no host, no load context.
/// </summary>
public sealed class PluginAdmissionTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "admission-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static ProxyConfig Config(string handler, PluginTrust? trust = null) => new()
    {
        SourceFile = "plugins.yaml",
        Models = [],
        Providers = [new ProviderMapping("p", HandlerName.TryParse(handler, out var name) ? name : throw new ArgumentException(handler), "plugins.yaml:1")],
        Trust = trust ?? PluginTrust.None,
    };

    private static PluginTrust Hashes(params string[] hashes) => new(new HashSet<string>(hashes, StringComparer.Ordinal), []);

    private (PluginFile File, byte[] Content) Marked()
    {
        var path = Path.Combine(_dir, "Marked.dll");
        File.Copy(Path.Combine(TestPaths.TestPlugin("Marked"), "Marked.dll"), path);
        return (new PluginFile("Marked", path), File.ReadAllBytes(path));
    }

    private TrustedKey NewKey(string name)
    {
        SigningCommands.KeyGen(Path.Combine(_dir, name), TextWriter.Null);
        return TrustedKey.FromPem(name, File.ReadAllText(Path.Combine(_dir, name + ".pub.pem")));
    }

    [Test]
    public void An_assembly_no_mapping_names_is_unmapped_whatever_the_trust_settings()
    {
        var (file, content) = Marked();

        var admission = PluginAdmission.Decide(file, content, Config("Other", Hashes(PluginSignature.Sha256(content))));

        Assert.That(admission.Verdict, Is.EqualTo(AdmissionVerdict.Unmapped));
        Assert.That(admission.Sha256, Is.EqualTo(PluginSignature.Sha256(content)).And.Length.EqualTo(64));
    }

    [Test]
    public void A_mapped_assembly_loads_when_no_trust_setting_is_given() =>
        Assert.That(PluginAdmission.Decide(Marked().File, File.ReadAllBytes(Path.Combine(_dir, "Marked.dll")), Config("Marked:MarkedLlm")).Verdict, Is.EqualTo(AdmissionVerdict.Load));

    [Test]
    public void A_listed_hash_loads_and_an_unlisted_one_is_refused_naming_the_hash_to_list()
    {
        var (file, content) = Marked();
        var sha256 = PluginSignature.Sha256(content);

        var listed = PluginAdmission.Decide(file, content, Config("Marked", Hashes(sha256)));
        var unlisted = PluginAdmission.Decide(file, content, Config("Marked", Hashes(new string('0', 64))));

        Assert.That(listed.Verdict, Is.EqualTo(AdmissionVerdict.Load));
        Assert.That(unlisted.Verdict, Is.EqualTo(AdmissionVerdict.Refused));
        Assert.That(unlisted.Reason, Does.Contain(sha256).And.Contain("allowed_plugin_sha256").And.Contain("pluginhost sign"));
    }

    [Test]
    public void The_signature_is_checked_against_the_bytes_given_not_the_file_read_again()
    {
        var (file, content) = Marked();
        var key = NewKey("key");
        SigningCommands.Sign(Path.Combine(_dir, "key.pem"), [file.Path], TextWriter.Null);
        var trust = new PluginTrust(new HashSet<string>(), [key]);
        var changed = (byte[])content.Clone();
        changed[^1] ^= 1;

        Assert.That(PluginAdmission.Decide(file, content, Config("Marked", trust)).Verdict, Is.EqualTo(AdmissionVerdict.Load));
        var refused = PluginAdmission.Decide(file, changed, Config("Marked", trust));
        Assert.That(refused.Verdict, Is.EqualTo(AdmissionVerdict.Refused), "the file on disk is the signed one; the bytes to load are not");
        Assert.That(refused.Reason, Does.Contain("Marked.dll.sig does not verify"));
    }

    [Test]
    public void A_signature_by_another_key_or_none_at_all_is_refused()
    {
        var (file, content) = Marked();
        var trusted = NewKey("trusted");
        NewKey("other");
        var trust = new PluginTrust(new HashSet<string>(), [trusted]);

        var unsigned = PluginAdmission.Decide(file, content, Config("Marked", trust));
        SigningCommands.Sign(Path.Combine(_dir, "other.pem"), [file.Path], TextWriter.Null);
        var otherKey = PluginAdmission.Decide(file, content, Config("Marked", trust));

        Assert.That(unsigned.Verdict, Is.EqualTo(AdmissionVerdict.Refused));
        Assert.That(unsigned.Reason, Does.Contain("no readable signature Marked.dll.sig"));
        Assert.That(otherKey.Verdict, Is.EqualTo(AdmissionVerdict.Refused));
        Assert.That(otherKey.Reason, Does.Contain("does not verify"));
    }

    [Test]
    public void A_folder_plugin_is_refused_naming_a_dependency_that_is_not_allowed_and_loads_its_checked_bytes_once_it_is()
    {
        var folder = Path.Combine(_dir, "DependsOnJson13");
        Directory.CreateDirectory(folder);
        TestProxy.InstallPlugin(_dir, "DependsOnJson13", "DependsOnJson13");
        var main = Path.Combine(folder, "DependsOnJson13.dll");
        var file = new PluginFile("DependsOnJson13", main) { Folder = folder };
        var content = File.ReadAllBytes(main);
        var json = File.ReadAllBytes(Path.Combine(folder, "Newtonsoft.Json.dll"));

        var refused = PluginAdmission.Decide(file, content, Config("DependsOnJson13", Hashes(PluginSignature.Sha256(content))));
        var allowed = PluginAdmission.Decide(file, content, Config("DependsOnJson13", Hashes(PluginSignature.Sha256(content), PluginSignature.Sha256(json))));

        Assert.That(refused.Verdict, Is.EqualTo(AdmissionVerdict.Refused));
        Assert.That(refused.Reason, Does.Contain("Newtonsoft.Json.dll").And.Contain(PluginSignature.Sha256(json)));
        Assert.That(allowed.Verdict, Is.EqualTo(AdmissionVerdict.Load));
        Assert.That(allowed.Dependencies.Select(d => Path.GetFileName(d.Path)), Is.EqualTo(new[] { "Newtonsoft.Json.dll" }));
        Assert.That(allowed.Dependencies[0].Content, Is.EqualTo(json));
    }

    [TestCase("TestHandlers")]
    [TestCase("Marked")]
    [TestCase("SurfaceHandlers")]
    [TestCase("RouterHandlers")]
    [TestCase("BridgeHandlers")]
    public void The_handler_types_read_from_metadata_are_those_loading_the_assembly_finds(string project)
    {
        var path = Path.Combine(TestPaths.TestPlugin(project), project + ".dll");
        var content = File.ReadAllBytes(path);
        var file = new PluginFile(project, path);
        var loaded = LoadedPlugin.Load(file, content, new Admission(AdmissionVerdict.Load, PluginSignature.Sha256(content), null, []), 1, TimeSpan.FromSeconds(10));
        try
        {
            Assert.That(HandlerMetadata.HandlerTypes(content, TestPaths.TestPlugin(project)), Is.EqualTo(loaded.HandlerTypes.Select(t => t.FullName)));
            Assert.That(loaded.HandlerTypes, Is.Not.Empty);
        }
        finally
        {
            loaded.UnloadAsync(_ => { }).AsTask().GetAwaiter().GetResult();
        }
    }
}
