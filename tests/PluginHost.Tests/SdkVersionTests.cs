using System.Net;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// Plugins compiled against later SDK builds (tests/FutureSdk: 1.1.0 with one more member, 2.0.0): the host reads the
/// SDK version from the plugin's metadata before loading it and refuses what it cannot run, in /plugins, readiness
/// and the log, and with a 503 naming the reason, never a MissingMethodException on a request.
/// </summary>
public sealed class SdkVersionTests
{
    private static string Yaml(string plugin) => $"""
        model_list:
          - model_name: future
            litellm_params:
              model: future/x
        litellm_settings:
          custom_provider_map:
            - provider: future
              custom_handler: {plugin}
        """;

    [Test]
    public async Task A_plugin_built_against_a_newer_major_SDK_is_refused_with_the_versions_everywhere_the_host_reports()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml("Future.Major"), "Future.Major");

        var plugins = JsonDocument.Parse(await proxy.Http.GetStringAsync("/plugins")).RootElement.GetProperty("plugins");
        var readiness = JsonDocument.Parse(await proxy.Http.GetStringAsync("/health/readiness")).RootElement;
        using var answer = await proxy.PostAsync("/v1/chat/completions", """{"model":"future","messages":[{"role":"user","content":"hi"}]}""");
        var body = await answer.Content.ReadAsStringAsync();

        var entry = plugins.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "Future.Major");
        Assert.Multiple(() =>
        {
            Assert.That(entry.GetProperty("state").GetString(), Is.EqualTo("failed"));
            Assert.That(entry.GetProperty("last_error").GetString(), Does.Contain("built against PluginHost.Sdk 2.0.0").And.Contain("this host runs PluginHost.Sdk 1.0.0").And.Contain("different major version"));
            Assert.That(readiness.GetProperty("status").GetString(), Is.EqualTo("degraded"));
            Assert.That(readiness.GetProperty("failed_plugins")[0].GetString(), Does.Contain("PluginHost.Sdk 2.0.0"));
            Assert.That(proxy.Logs.Lines, Has.Some.Contains("Future.Major").And.Contains("PluginHost.Sdk 2.0.0"));
            Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(body, Does.Contain("PluginHost.Sdk 2.0.0").And.Not.Contain("MissingMethod"));
        });
    }

    [Test]
    public async Task A_plugin_built_against_a_newer_minor_SDK_that_uses_only_what_the_host_has_loads_and_answers()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml("Future.MinorCompatible"), "Future.MinorCompatible");

        ChatCompletion answer = await proxy.Chat("future").CompleteChatAsync("hi");

        Assert.That(answer.Content[0].Text, Is.EqualTo("future: only what every 1.x SDK has"));
    }

    [Test]
    public async Task A_plugin_built_against_a_newer_minor_SDK_that_calls_a_member_the_host_lacks_is_refused_naming_it()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml("Future.MinorMissing"), "Future.MinorMissing");

        var readiness = JsonDocument.Parse(await proxy.Http.GetStringAsync("/health/readiness")).RootElement;
        using var answer = await proxy.PostAsync("/v1/chat/completions", """{"model":"future","messages":[{"role":"user","content":"hi"}]}""");

        Assert.That(readiness.GetProperty("failed_plugins")[0].GetString(), Does.Contain("built against PluginHost.Sdk 1.1.0").And.Contain("PluginHost.Sdk.CustomLlm.DescribeSdk()"));
        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await answer.Content.ReadAsStringAsync(), Does.Contain("DescribeSdk").And.Not.Contain("MissingMethod"));
    }

    [Test]
    public async Task A_refused_replacement_leaves_the_version_before_it_serving()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml("Future"), [("Future.dll", "Future.MinorCompatible")]);
        ChatCompletion before = await proxy.Chat("future").CompleteChatAsync("hi");

        // The same plugin name, rebuilt against SDK 2.0: its assembly file replaces the one serving.
        File.Copy(Path.Combine(TestPaths.TestPlugin("Future.Major"), "Future.Major.dll"), Path.Combine(proxy.PluginsDirectory, "Future.dll"), overwrite: true);
        await proxy.ReloadAsync();
        ChatCompletion after = await proxy.Chat("future").CompleteChatAsync("hi");
        var readiness = await proxy.Http.GetStringAsync("/health/readiness");

        Assert.That(after.Content[0].Text, Is.EqualTo(before.Content[0].Text));
        Assert.That(readiness, Does.Contain("PluginHost.Sdk 2.0.0"));
    }
}
