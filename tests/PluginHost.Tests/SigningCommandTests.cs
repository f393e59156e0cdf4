using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// <c>pluginhost keygen</c>, <c>sign</c> and <c>hash</c> run as the real executable on real files, and what they make
/// is what the proxy (also a real process) accepts.
/// </summary>
public sealed class SigningCommandTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "signing-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string CopyOfMarked()
    {
        var dll = Path.Combine(_dir, "Marked.dll");
        File.Copy(Path.Combine(TestPaths.TestPlugin("Marked"), "Marked.dll"), dll);
        return dll;
    }

    [Test]
    public async Task Hash_prints_the_SHA256_of_each_file_as_sha256sum_does()
    {
        var dll = CopyOfMarked();

        var (exitCode, output, error) = await ProxyProcess.RunAsync(_dir, "hash", dll);

        Assert.That(exitCode, Is.Zero, error);
        Assert.That(output.Trim(), Is.EqualTo($"{Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(dll)))}  {dll}"));
    }

    [Test]
    public async Task Keygen_then_sign_make_a_signature_that_verifies_with_the_public_key_and_not_after_a_change()
    {
        var dll = CopyOfMarked();

        var keygen = await ProxyProcess.RunAsync(_dir, "keygen", "--out", "key");
        var sign = await ProxyProcess.RunAsync(_dir, "sign", "--key", "key.pem", dll);

        Assert.Multiple(() =>
        {
            Assert.That(keygen.ExitCode, Is.Zero, keygen.Error);
            Assert.That(sign.ExitCode, Is.Zero, sign.Error);
            Assert.That(File.ReadAllText(Path.Combine(_dir, "key.pem")), Does.StartWith("-----BEGIN PRIVATE KEY-----"));
            Assert.That(File.ReadAllText(Path.Combine(_dir, "key.pub.pem")), Does.StartWith("-----BEGIN PUBLIC KEY-----"));
            if (!OperatingSystem.IsWindows())
            {
                Assert.That(File.GetUnixFileMode(Path.Combine(_dir, "key.pem")), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), "the private key is its owner's only");
            }
        });

        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(Path.Combine(_dir, "key.pub.pem")));
        var signature = Convert.FromBase64String(File.ReadAllText(dll + ".sig").Trim());
        var bytes = File.ReadAllBytes(dll);
        Assert.That(key.VerifyData(bytes, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence), Is.True);
        bytes[^1] ^= 1;
        Assert.That(key.VerifyData(bytes, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence), Is.False);
    }

    [Test]
    public async Task Keygen_does_not_overwrite_a_key_and_sign_refuses_a_public_key_each_exiting_1_with_one_line()
    {
        var dll = CopyOfMarked();
        Assert.That((await ProxyProcess.RunAsync(_dir, "keygen", "--out", "key")).ExitCode, Is.Zero);
        var before = File.ReadAllText(Path.Combine(_dir, "key.pem"));

        var again = await ProxyProcess.RunAsync(_dir, "keygen", "--out", "key");
        var withPublic = await ProxyProcess.RunAsync(_dir, "sign", "--key", "key.pub.pem", dll);
        var noFile = await ProxyProcess.RunAsync(_dir, "hash", Path.Combine(_dir, "missing.dll"));

        Assert.Multiple(() =>
        {
            Assert.That(again.ExitCode, Is.EqualTo(1));
            Assert.That(again.Error, Does.Contain("exists").And.Not.Contain("   at "));
            Assert.That(File.ReadAllText(Path.Combine(_dir, "key.pem")), Is.EqualTo(before));
            Assert.That(withPublic.ExitCode, Is.EqualTo(1));
            Assert.That(withPublic.Error, Does.Contain("--key key.pub.pem").And.Not.Contain("   at "));
            Assert.That(File.Exists(dll + ".sig"), Is.False);
            Assert.That(noFile.ExitCode, Is.EqualTo(1));
            Assert.That(noFile.Error, Does.Contain("missing.dll").And.Not.Contain("   at "));
        });
    }

    [TestCase("pluginhost hash: at least one FILE is needed", "hash")]
    [TestCase("pluginhost sign: --key needs a value", "sign", "Marked.dll")]
    [TestCase("pluginhost keygen: --out needs a value", "keygen")]
    public async Task A_command_given_without_what_it_needs_exits_2_with_one_line_naming_it(string expected, params string[] args)
    {
        var (exitCode, output, error) = await ProxyProcess.RunAsync(_dir, args);

        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(error.Trim(), Does.StartWith(expected).And.Not.Contain("\n"));
        Assert.That(output, Is.Empty);
    }

    [Test]
    public async Task A_proxy_process_serves_a_plugin_signed_with_the_commands_and_refuses_a_changed_one_naming_its_hash()
    {
        var yaml = Yaml.Config(new Model("m", "Marked:MarkedLlm")) + $"  trusted_plugin_keys:\n    - {Path.Combine(_dir, "key.pub.pem")}\n";
        Assert.That((await ProxyProcess.RunAsync(_dir, "keygen", "--out", "key")).ExitCode, Is.Zero);

        var signed = ProxyProcess.NewRoot(yaml, "Marked");
        Assert.That((await ProxyProcess.RunAsync(_dir, "sign", "--key", "key.pem", Path.Combine(signed, "plugins", "Marked", "Marked.dll"))).ExitCode, Is.Zero);
        await using (var proxy = await ProxyProcess.StartAsync(signed))
        {
            using var response = await proxy.Http.PostAsync("/v1/chat/completions", new StringContent("""{"model":"m","messages":[{"role":"user","content":"hi"}]}"""));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), string.Join('\n', proxy.Lines));
        }

        var changed = ProxyProcess.NewRoot(yaml, "Marked");
        var dll = Path.Combine(changed, "plugins", "Marked", "Marked.dll");
        Assert.That((await ProxyProcess.RunAsync(_dir, "sign", "--key", "key.pem", dll)).ExitCode, Is.Zero);
        var bytes = File.ReadAllBytes(dll);
        bytes[BitConverter.ToInt32(bytes, 0x3C) + 8] ^= 0x01; // the COFF time stamp: still a valid assembly
        File.WriteAllBytes(dll, bytes);
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
        await using (var proxy = await ProxyProcess.StartAsync(changed))
        {
            var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/plugins");
            var marked = status.GetProperty("plugins").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "Marked");
            using var response = await proxy.Http.PostAsync("/v1/chat/completions", new StringContent("""{"model":"m","messages":[{"role":"user","content":"hi"}]}"""));
            Assert.Multiple(() =>
            {
                Assert.That(marked.GetProperty("state").GetString(), Is.EqualTo("refused"));
                Assert.That(marked.GetProperty("sha256").GetString(), Is.EqualTo(sha256));
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
                Assert.That(proxy.Lines, Has.Some.Contains("Refused plugin Marked").And.Contains(sha256));
            });
        }
    }
}
