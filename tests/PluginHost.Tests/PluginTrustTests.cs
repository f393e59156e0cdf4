using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// Which plugin code may run: only assemblies a <c>custom_provider_map</c> entry names are loaded, and with
/// <c>general_settings.allowed_plugin_sha256</c> or <c>trusted_plugin_keys</c> only those whose hash is listed or whose
/// signature verifies. The Marked test plugin writes a marker file from its module initializer and its static
/// constructor, so "never loaded" is proven by the markers' absence, not assumed.
/// </summary>
public sealed class PluginTrustTests
{
    private const string MarkersVariable = "PLUGINHOST_TEST_MARKERS";

    private string _markers = null!;
    private string _scratch = null!;

    [SetUp]
    public void SetUp()
    {
        _scratch = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "trust-" + Guid.NewGuid().ToString("N")[..8]);
        _markers = Path.Combine(_scratch, "markers");
        Directory.CreateDirectory(_scratch);
        Environment.SetEnvironmentVariable(MarkersVariable, _markers);
    }

    [TearDown]
    public void TearDown()
    {
        Environment.SetEnvironmentVariable(MarkersVariable, null);
        try
        {
            Directory.Delete(_scratch, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private bool AnyCodeRan => Directory.Exists(_markers) && Directory.EnumerateFiles(_markers).Any();

    private static string Config(string handler, string general = "") => $"""
        model_list:
          - model_name: m
            litellm_params:
              model: p/x
        litellm_settings:
          custom_provider_map:
            - provider: p
              custom_handler: {handler}
        {(general.Length == 0 ? "" : "general_settings:\n" + general)}
        """;

    private static string Hashes(params string[] hashes) => "  allowed_plugin_sha256:\n" + string.Concat(hashes.Select(h => $"    - {h}\n"));

    private static string Keys(params string[] keys) => "  trusted_plugin_keys:\n" + string.Concat(keys.Select(k => $"    - {k}\n"));

    private static string MarkedDll(TestProxy proxy) => Path.Combine(proxy.PluginsDirectory, "Marked", "Marked.dll");

    private static string Sha256Of(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static async Task<JsonElement> PluginAsync(TestProxy proxy, string name)
    {
        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/plugins");
        return status.GetProperty("plugins").EnumerateArray().Single(p => p.GetProperty("name").GetString() == name);
    }

    private static async Task<string> ChatAsync(TestProxy proxy)
    {
        using var response = await proxy.PostAsync("/v1/chat/completions", """{"model":"m","messages":[{"role":"user","content":"hi"}]}""");
        var body = await response.Content.ReadAsStringAsync();
        return $"{(int)response.StatusCode} {body}";
    }

    [Test]
    public async Task An_unmapped_plugin_is_never_loaded_yet_is_listed_with_its_handler_types_and_a_reload_that_maps_it_loads_it()
    {
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), [("TestHandlers", "TestHandlers"), ("Marked", "Marked")], watch: true);

        var marked = await PluginAsync(proxy, "Marked");
        Assert.Multiple(() =>
        {
            Assert.That(marked.GetProperty("state").GetString(), Is.EqualTo("unmapped"));
            Assert.That(marked.GetProperty("handlers").EnumerateArray().Select(h => h.GetString()), Is.EqualTo(new[] { "Marked.MarkedLlm", "Marked.OtherMarkedLlm" }));
            Assert.That(marked.GetProperty("sha256").GetString(), Is.EqualTo(Sha256Of(MarkedDll(proxy))));
            Assert.That(marked.GetProperty("generation").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(AnyCodeRan, Is.False, "no module initializer or static constructor of an unmapped plugin ran");
            Assert.That(proxy.Runtime.Current.Plugins.Select(p => p.Name), Is.EqualTo(new[] { "TestHandlers" }));
        });

        // The watcher sees the edit: hot, no restart.
        await File.WriteAllTextAsync(proxy.ConfigPath, Config("Marked:MarkedLlm"));
        await proxy.WaitForSnapshotAsync(s => s.Plugins.Any(p => p.Name == "Marked"));

        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("marked"));
        marked = await PluginAsync(proxy, "Marked");
        Assert.Multiple(() =>
        {
            Assert.That(marked.GetProperty("state").GetString(), Is.EqualTo("active"));
            Assert.That(File.Exists(Path.Combine(_markers, "Marked.module-initializer")), "the mapped plugin's module initializer ran");
            Assert.That(File.Exists(Path.Combine(_markers, "Marked.static-constructor")), "the mapped plugin's static constructor ran");
        });
    }

    [Test]
    public void A_mapping_naming_a_missing_type_lists_the_handlers_of_unmapped_plugins_without_loading_them()
    {
        var error = Assert.ThrowsAsync<ConfigException>(async () =>
        {
            await using var proxy = await TestProxy.StartAsync(Config("Nowhere:Handler"), "TestHandlers", "Marked");
        });

        Assert.That(error!.Message, Does.Contain("Marked:Marked.MarkedLlm").And.Contain("Marked:Marked.OtherMarkedLlm"));
        Assert.That(AnyCodeRan, Is.False);
    }

    [Test]
    public async Task A_plugin_whose_hash_is_not_allowed_is_refused_never_runs_is_reported_with_its_hash_and_loads_once_allowed_by_a_reload()
    {
        var otherHash = Convert.ToHexStringLower(SHA256.HashData("not the plugin"u8));
        await using var proxy = await TestProxy.StartAsync(Config("Marked:MarkedLlm", Hashes(otherHash)), [("Marked", "Marked")], watch: true);
        var sha256 = Sha256Of(MarkedDll(proxy));

        var marked = await PluginAsync(proxy, "Marked");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(marked.GetProperty("state").GetString(), Is.EqualTo("refused"));
            Assert.That(marked.GetProperty("sha256").GetString(), Is.EqualTo(sha256));
            Assert.That(marked.GetProperty("last_error").GetString(), Does.Contain(sha256).And.Contain("allowed_plugin_sha256"));
            Assert.That(marked.GetProperty("handlers").EnumerateArray().Select(h => h.GetString()), Does.Contain("Marked.MarkedLlm"));
            Assert.That(proxy.Logs.Lines, Has.Some.Contains("Refused plugin Marked").And.Contains(sha256));
            Assert.That(await ChatAsync(proxy), Does.StartWith("503").And.Contain("refused"));
            Assert.That(AnyCodeRan, Is.False, "a refused plugin never ran");
        });

        // Allowing it is a configuration edit the watcher picks up (the hash as pasted, in either case).
        await File.WriteAllTextAsync(proxy.ConfigPath, Config("Marked:MarkedLlm", Hashes(otherHash, sha256.ToUpperInvariant())));
        await proxy.WaitForSnapshotAsync(s => s.Plugins.Any(p => p.Name == "Marked"));

        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("marked"));
        Assert.That((await PluginAsync(proxy, "Marked")).GetProperty("state").GetString(), Is.EqualTo("active"));
        Assert.That(File.Exists(Path.Combine(_markers, "Marked.static-constructor")));
    }

    [Test]
    public async Task A_refused_replacement_leaves_the_allowed_version_serving_until_the_settings_stop_allowing_it()
    {
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), "TestHandlers", "Marked");
        var dll = MarkedDll(proxy);
        var allowed = Sha256Of(dll);
        await File.WriteAllTextAsync(proxy.ConfigPath, Config("Marked:MarkedLlm", Hashes(allowed)));
        await proxy.ReloadAsync();
        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("marked"));
        Directory.Delete(_markers, recursive: true);

        // A replacement nobody allowed (one byte of the COFF time stamp): the allowed version keeps serving.
        var bytes = await File.ReadAllBytesAsync(dll);
        bytes[BitConverter.ToInt32(bytes, 0x3C) + 8] ^= 0x01;
        await File.WriteAllBytesAsync(dll, bytes);
        await proxy.ReloadAsync();

        var marked = await PluginAsync(proxy, "Marked");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("marked"));
            Assert.That(marked.GetProperty("state").GetString(), Is.EqualTo("active"));
            Assert.That(marked.GetProperty("sha256").GetString(), Is.EqualTo(allowed));
            Assert.That(marked.GetProperty("last_error").GetString(), Does.Contain("refused").And.Contain(Sha256Of(dll)).And.Contain("keeps serving"));
            Assert.That(proxy.Logs.Lines, Has.Some.Contains("Refused plugin Marked").And.Contains(Sha256Of(dll)));
            Assert.That(AnyCodeRan, Is.False, "the refused replacement never ran");
        });

        // The refusal is counted once for that file version, however many reloads meet it again.
        Assert.That(await RefusalsAsync(proxy), Is.EqualTo(1));
        await proxy.ReloadAsync();
        Assert.That(await RefusalsAsync(proxy), Is.EqualTo(1));

        // Settings that no longer allow the serving version (its hash removed) stop it too.
        await File.WriteAllTextAsync(proxy.ConfigPath, Config("Marked:MarkedLlm", Hashes(Convert.ToHexStringLower(SHA256.HashData("another"u8)))));
        await proxy.ReloadAsync();

        Assert.That(await ChatAsync(proxy), Does.StartWith("503").And.Contain("refused"));
        Assert.That((await PluginAsync(proxy, "Marked")).GetProperty("state").GetString(), Is.EqualTo("refused"));
        Assert.That(AnyCodeRan, Is.False);
    }

    private static async Task<double> RefusalsAsync(TestProxy proxy) =>
        PrometheusText.Parse(await proxy.Http.GetStringAsync("/metrics")).Value("pluginhost_plugin_refusals_total", ("pluginhost_plugin", "Marked"));

    [Test]
    public async Task A_plugin_signed_with_a_trusted_key_loads_and_a_signature_written_while_running_is_picked_up()
    {
        var key = Path.Combine(_scratch, "key");
        SigningCommands.KeyGen(key, TextWriter.Null);
        await using var proxy = await TestProxy.StartAsync(Config("Marked:MarkedLlm", Keys(key + ".pub.pem")), [("Marked", "Marked")], watch: true);
        Assert.That((await PluginAsync(proxy, "Marked")).GetProperty("last_error").GetString(), Does.Contain("no readable signature Marked.dll.sig"));
        Assert.That(AnyCodeRan, Is.False);

        SigningCommands.Sign(key + ".pem", [MarkedDll(proxy)], TextWriter.Null);
        await proxy.WaitForSnapshotAsync(s => s.Plugins.Any(p => p.Name == "Marked"));

        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("marked"));
        Assert.That(File.Exists(Path.Combine(_markers, "Marked.module-initializer")));
    }

    [Test]
    public async Task A_trusted_key_given_inline_as_PEM_verifies_too()
    {
        var key = Path.Combine(_scratch, "key");
        SigningCommands.KeyGen(key, TextWriter.Null);
        var inline = "|\n" + string.Concat(File.ReadAllLines(key + ".pub.pem").Select(l => $"        {l}\n"));
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), "TestHandlers", "Marked");
        SigningCommands.Sign(key + ".pem", [MarkedDll(proxy)], TextWriter.Null);

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("Marked:MarkedLlm", Keys(inline)));
        await proxy.ReloadAsync();

        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("marked"), string.Join("\n", proxy.Logs.Lines));
    }

    [Test]
    public async Task A_signed_plugin_changed_by_one_byte_after_signing_is_refused_and_never_runs()
    {
        var key = Path.Combine(_scratch, "key");
        SigningCommands.KeyGen(key, TextWriter.Null);
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), "TestHandlers", "Marked");
        var dll = MarkedDll(proxy);
        SigningCommands.Sign(key + ".pem", [dll], TextWriter.Null);

        // One byte of the COFF header's time stamp: still a valid assembly, no longer the signed bytes.
        var bytes = await File.ReadAllBytesAsync(dll);
        bytes[BitConverter.ToInt32(bytes, 0x3C) + 8] ^= 0x01;
        await File.WriteAllBytesAsync(dll, bytes);

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("Marked:MarkedLlm", Keys(key + ".pub.pem")));
        await proxy.ReloadAsync();

        var marked = await PluginAsync(proxy, "Marked");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(marked.GetProperty("state").GetString(), Is.EqualTo("refused"));
            Assert.That(marked.GetProperty("last_error").GetString(), Does.Contain("does not verify").And.Contain(Sha256Of(dll)));
            Assert.That(await ChatAsync(proxy), Does.StartWith("503"));
            Assert.That(AnyCodeRan, Is.False);
        });
    }

    [Test]
    public async Task A_plugin_signed_by_a_key_that_is_not_trusted_is_refused_and_never_runs()
    {
        var trusted = Path.Combine(_scratch, "trusted");
        var other = Path.Combine(_scratch, "other");
        SigningCommands.KeyGen(trusted, TextWriter.Null);
        SigningCommands.KeyGen(other, TextWriter.Null);
        await using var proxy = await TestProxy.StartAsync(Config("Marked:MarkedLlm", Keys(trusted + ".pub.pem")), "Marked");
        SigningCommands.Sign(other + ".pem", [MarkedDll(proxy)], TextWriter.Null);
        await proxy.ReloadAsync();

        var marked = await PluginAsync(proxy, "Marked");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(marked.GetProperty("state").GetString(), Is.EqualTo("refused"));
            Assert.That(marked.GetProperty("last_error").GetString(), Does.Contain("Marked.dll.sig does not verify"));
            Assert.That(await ChatAsync(proxy), Does.StartWith("503"));
            Assert.That(AnyCodeRan, Is.False);
        });
    }

    [Test]
    public async Task A_folder_plugin_loads_only_when_every_assembly_in_its_folder_is_allowed()
    {
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), "TestHandlers", "DependsOnJson13");
        var folder = Path.Combine(proxy.PluginsDirectory, "DependsOnJson13");
        var main = Sha256Of(Path.Combine(folder, "DependsOnJson13.dll"));
        var json = Sha256Of(Path.Combine(folder, "Newtonsoft.Json.dll"));

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("DependsOnJson13", Hashes(main)));
        await proxy.ReloadAsync();
        var plugin = await PluginAsync(proxy, "DependsOnJson13");
        Assert.Multiple(() =>
        {
            Assert.That(plugin.GetProperty("state").GetString(), Is.EqualTo("refused"));
            Assert.That(plugin.GetProperty("last_error").GetString(), Does.Contain("Newtonsoft.Json.dll").And.Contain(json));
        });

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("DependsOnJson13", Hashes(main, json)));
        await proxy.ReloadAsync();
        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("13.0.0.0"));
    }

    [Test]
    public async Task A_dependency_changed_after_the_check_is_not_what_runs_the_checked_bytes_are()
    {
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), "TestHandlers", "LazyJson");
        var folder = Path.Combine(proxy.PluginsDirectory, "LazyJson");
        var json = Path.Combine(folder, "Newtonsoft.Json.dll");
        await File.WriteAllTextAsync(proxy.ConfigPath, Config("LazyJson", Hashes(Sha256Of(Path.Combine(folder, "LazyJson.dll")), Sha256Of(json))));
        await proxy.ReloadAsync();
        Assert.That((await PluginAsync(proxy, "LazyJson")).GetProperty("state").GetString(), Is.EqualTo("active"));

        // LazyJson first needs Newtonsoft.Json on its first request: by then the file holds another build of it.
        await File.WriteAllBytesAsync(json, File.ReadAllBytes(Path.Combine(TestPaths.TestPlugin("DependsOnJson12"), "Newtonsoft.Json.dll")));

        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("13.0.0.0"), "the checked 13.0 bytes run, not the 12.0 file put there after the check");
    }

    [Test]
    public async Task A_runtime_specific_dependency_loaded_late_runs_from_the_checked_copy_and_the_copy_goes_with_its_version()
    {
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), "TestHandlers", "LazyJson");
        var folder = Path.Combine(proxy.PluginsDirectory, "LazyJson");

        // Newtonsoft.Json as a runtimes/unix asset: resolved through the .deps.json, never preloaded, first needed on a request.
        var json = Path.Combine(folder, "runtimes", "unix", "lib", "net6.0", "Newtonsoft.Json.dll");
        Directory.CreateDirectory(Path.GetDirectoryName(json)!);
        File.Move(Path.Combine(folder, "Newtonsoft.Json.dll"), json);
        var deps = Path.Combine(folder, "LazyJson.deps.json");
        await File.WriteAllTextAsync(deps, (await File.ReadAllTextAsync(deps)).Replace(
            "\"runtime\": {\n          \"lib/net6.0/Newtonsoft.Json.dll\": {",
            "\"runtimeTargets\": {\n          \"runtimes/unix/lib/net6.0/Newtonsoft.Json.dll\": {\n            \"rid\": \"unix\",\n            \"assetType\": \"runtime\","));
        Assert.That(await File.ReadAllTextAsync(deps), Does.Contain("runtimes/unix/lib/net6.0/Newtonsoft.Json.dll"), "the test's edit of the .deps.json");

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("LazyJson", Hashes(Sha256Of(Path.Combine(folder, "LazyJson.dll")), Sha256Of(json))));
        await proxy.ReloadAsync();
        var loaded = proxy.Runtime.Current.Plugins.Single(p => p.Name == "LazyJson");
        Assert.That(loaded.CopyDirectory, Is.Not.Null.And.Not.StartWith(proxy.PluginsDirectory));
        Assert.That(File.Exists(Path.Combine(loaded.CopyDirectory!, "runtimes", "unix", "lib", "net6.0", "Newtonsoft.Json.dll")), "the checked dependency is in the copy");

        // By its first request the file in the plugins folder holds another build of it (not allowed): the checked one runs.
        await File.WriteAllBytesAsync(json, File.ReadAllBytes(Path.Combine(TestPaths.TestPlugin("DependsOnJson12"), "Newtonsoft.Json.dll")));
        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("13.0.0.0"), "the checked 13.0 bytes run, not the 12.0 file put there after the check");

        // The copy goes when its version is unloaded.
        Directory.Delete(folder, recursive: true);
        await proxy.ReloadAsync();
        await WaitUntilAsync(() => loaded.State is PluginState.Unloaded or PluginState.Leaked);
        Assert.That(Directory.Exists(loaded.CopyDirectory), Is.False);
    }

    [Test]
    public async Task Enforcing_trust_on_a_running_plugin_moves_it_to_a_checked_copy_without_a_failed_request()
    {
        await using var proxy = await TestProxy.StartAsync(Config("LazyJson"), "LazyJson");
        var folder = Path.Combine(proxy.PluginsDirectory, "LazyJson");
        var before = proxy.Runtime.Current.Plugins.Single(p => p.Name == "LazyJson");
        Assert.That(before.CopyDirectory, Is.Null, "without trust settings a plugin runs from its folder");
        Assert.That(await ChatAsync(proxy), Does.StartWith("200"));

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("LazyJson", Hashes(Sha256Of(Path.Combine(folder, "LazyJson.dll")), Sha256Of(Path.Combine(folder, "Newtonsoft.Json.dll")))));
        await proxy.ReloadAsync();

        var after = proxy.Runtime.Current.Plugins.Single(p => p.Name == "LazyJson");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(after.Generation, Is.GreaterThan(before.Generation), "the same file, loaded again from a checked copy");
            Assert.That(after.CopyDirectory, Is.Not.Null);
            Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("13.0.0.0"));
        });
    }

    [Test]
    public async Task Native_libraries_in_a_folder_plugin_must_be_allowed_too_by_name_or_by_their_first_bytes()
    {
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), "TestHandlers", "DependsOnJson13");
        var folder = Path.Combine(proxy.PluginsDirectory, "DependsOnJson13");
        var allowed = Hashes(Sha256Of(Path.Combine(folder, "DependsOnJson13.dll")), Sha256Of(Path.Combine(folder, "Newtonsoft.Json.dll")));
        var native = Path.Combine(folder, "runtimes", "linux-x64", "native", "libhelper.so");
        Directory.CreateDirectory(Path.GetDirectoryName(native)!);
        await File.WriteAllBytesAsync(native, [0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1]);
        var unnamed = Path.Combine(folder, "helper");
        await File.WriteAllBytesAsync(unnamed, [0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0]);
        await File.WriteAllTextAsync(Path.Combine(folder, "notes.txt"), "not code: copied, never checked");

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("DependsOnJson13", allowed));
        await proxy.ReloadAsync();
        var plugin = await PluginAsync(proxy, "DependsOnJson13");
        Assert.Multiple(() =>
        {
            Assert.That(plugin.GetProperty("state").GetString(), Is.EqualTo("refused"));
            Assert.That(plugin.GetProperty("last_error").GetString(), Does.Contain(unnamed).And.Contain(Sha256Of(unnamed)));
        });

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("DependsOnJson13", allowed + $"    - {Sha256Of(unnamed)}\n"));
        await proxy.ReloadAsync();
        Assert.That((await PluginAsync(proxy, "DependsOnJson13")).GetProperty("last_error").GetString(), Does.Contain("libhelper.so").And.Contain(Sha256Of(native)));

        await File.WriteAllTextAsync(proxy.ConfigPath, Config("DependsOnJson13", allowed + $"    - {Sha256Of(unnamed)}\n    - {Sha256Of(native)}\n"));
        await proxy.ReloadAsync();
        Assert.That(await ChatAsync(proxy), Does.StartWith("200").And.Contain("13.0.0.0"));
        var copy = proxy.Runtime.Current.Plugins.Single(p => p.Name == "DependsOnJson13").CopyDirectory!;
        Assert.That(File.ReadAllBytes(Path.Combine(copy, "runtimes", "linux-x64", "native", "libhelper.so")), Is.EqualTo(File.ReadAllBytes(native)));
        Assert.That(File.ReadAllText(Path.Combine(copy, "notes.txt")), Does.StartWith("not code"));
    }

    [Test]
    public async Task A_single_file_plugin_under_trust_never_picks_up_an_assembly_dropped_beside_it()
    {
        await using var proxy = await TestProxy.StartAsync(Config("TestHandlers:Scripted"), "TestHandlers");
        var built = TestPaths.TestPlugin("LazyJson");
        foreach (var name in new[] { "LazyJson.dll", "LazyJson.deps.json", "LazyJson.runtimeconfig.json" })
        {
            File.Copy(Path.Combine(built, name), Path.Combine(proxy.PluginsDirectory, name));
        }

        // Somebody drops a Newtonsoft.Json beside it: unmapped, never allowed. Before trusted copies it was what the plugin loaded.
        File.Copy(Path.Combine(TestPaths.TestPlugin("DependsOnJson12"), "Newtonsoft.Json.dll"), Path.Combine(proxy.PluginsDirectory, "Newtonsoft.Json.dll"));
        await File.WriteAllTextAsync(proxy.ConfigPath, Config("LazyJson", Hashes(Sha256Of(Path.Combine(proxy.PluginsDirectory, "LazyJson.dll")))));
        await proxy.ReloadAsync();

        // The plugin's copy holds only its own files: its dependency resolves as it would with nothing beside it.
        Assert.That(await ChatAsync(proxy), Does.Not.Contain("12.0.0.0"), "the dropped assembly never runs");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "timed out");
            GC.Collect();
            await Task.Delay(50);
        }
    }

    [TestCase("  allowed_plugin_sha256:\n    - abc123\n", "general_settings.allowed_plugin_sha256[0] 'abc123' is not a SHA-256 hash")]
    [TestCase("  trusted_plugin_keys:\n    - missing.pub.pem\n", "general_settings.trusted_plugin_keys[0] 'missing.pub.pem': cannot read the public key file")]
    [TestCase("  trusted_plugin_keys:\n    - \"-----BEGIN PUBLIC KEY-----\\nnot a key\\n-----END PUBLIC KEY-----\"\n", "general_settings.trusted_plugin_keys[0] 'inline PEM': not a PEM ECDSA public key")]
    public void A_wrong_trust_setting_fails_the_configuration_naming_the_key(string general, string expected)
    {
        var error = Assert.Throws<ConfigException>(() => ConfigReader.Parse(Config("Marked", general), Path.Combine(_scratch, "plugins.yaml")));
        Assert.That(error!.Message, Does.Contain(expected));
    }
}
