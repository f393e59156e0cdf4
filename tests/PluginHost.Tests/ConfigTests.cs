using System.Diagnostics;
using System.Net;
using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// <c>plugins.yaml</c>: how <c>custom_handler</c> names a handler, <c>os.environ/NAME</c> values, and a wrong
/// first configuration failing startup with a message that names the file, the entry and what is available.
/// </summary>
public sealed class ConfigTests
{
    [TestCase("HiHandler")]
    [TestCase("HiHandler:MyCustomLlm")]
    [TestCase("HiHandler:HiHandler.MyCustomLlm")]
    public async Task A_handler_is_named_by_its_assembly_or_by_Assembly_colon_Type(string handler)
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("hi", handler)), "HiHandler");

        using var response = await proxy.PostAsync("/chat/completions", """{"model":"hi","messages":[{"role":"user","content":"hello"}]}""");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    [TestCase("TestHandlers:Scripted")]
    [TestCase("TestHandlers:TestHandlers.Scripted")]
    public async Task One_of_several_handlers_in_an_assembly_is_named_by_its_simple_or_full_type_name(string handler)
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("scripted", handler), new Model("completion", "TestHandlers:CompletionOnly")), "TestHandlers");

        using var scripted = await proxy.PostAsync("/chat/completions", """{"model":"scripted","messages":[{"role":"user","content":"choices:1"}]}""");
        using var completion = await proxy.PostAsync("/chat/completions", """{"model":"completion","messages":[{"role":"user","content":"x"}]}""");

        Assert.That(await Content(scripted), Is.EqualTo("choice 0"));
        Assert.That(await Content(completion), Is.EqualTo("completion:x"));
    }

    [Test]
    public void A_handler_missing_from_the_plugins_folder_fails_startup_naming_the_file_the_entry_and_what_is_available()
    {
        var error = Assert.ThrowsAsync<ConfigException>(() => TestProxy.StartAsync(Yaml.Config(new Model("hi", "HiHandlr")), "HiHandler"));

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Match(@"plugins\.yaml:\d+ "), "file and line");
            Assert.That(error.Message, Does.Contain("litellm_settings.custom_provider_map[0]"));
            Assert.That(error.Message, Does.Contain("custom_handler 'HiHandlr'"));
            Assert.That(error.Message, Does.Contain("available: HiHandler:HiHandler.MyCustomLlm"));
        });
    }

    [Test]
    public void An_assembly_with_several_handlers_named_alone_fails_startup_listing_them()
    {
        var error = Assert.ThrowsAsync<ConfigException>(() => TestProxy.StartAsync(Yaml.Config(new Model("x", "TestHandlers")), "TestHandlers"));

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("litellm_settings.custom_provider_map[0]"));
            Assert.That(error.Message, Does.Contain("several handlers"));
            Assert.That(error.Message, Does.Contain("TestHandlers:TestHandlers.Scripted").And.Contain("TestHandlers:TestHandlers.CompletionOnly"));
        });
    }

    [Test]
    public void An_unknown_type_fails_startup_listing_the_assemblys_handlers()
    {
        var error = Assert.ThrowsAsync<ConfigException>(() => TestProxy.StartAsync(Yaml.Config(new Model("x", "TestHandlers:Nope")), "TestHandlers"));

        Assert.That(error.Message, Does.Contain("no handler type 'Nope'").And.Contain("TestHandlers:TestHandlers.Scripted"));
    }

    [Test]
    public void A_model_whose_provider_is_not_mapped_fails_startup_naming_the_model_and_the_mapped_providers()
    {
        var yaml = Yaml.Config(new Model("hi", "HiHandler")).Replace("model: p0/hi-upstream", "model: unmapped/hi-upstream", StringComparison.Ordinal);

        var error = Assert.ThrowsAsync<ConfigException>(() => TestProxy.StartAsync(yaml, "HiHandler"));

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("model_list[0]"));
            Assert.That(error.Message, Does.Contain("provider 'unmapped' of model 'hi'"));
            Assert.That(error.Message, Does.Contain("(mapped: p0)"));
        });
    }

    // A wrong configuration, and what the message must say.
    private static readonly object[][] WrongConfigs =
    [
        ["model_list: [", "invalid YAML"],
        ["", "the file is empty"],
        ["model_list:\n  - model_name: x\n", "model_list[0] ('x') has no litellm_params"],
        ["model_list:\n  - model_name: x\n    litellm_params:\n      model: no-provider\n", "model_list[0].litellm_params.model 'no-provider' must be 'provider/model'"],
        ["model_list:\n  - litellm_params:\n      model: p/x\n", "model_list[0] needs 'model_name'"],
        ["model_list:\n  - model_name: x\n    litellm_params:\n      model: p/x\n      timeout: soon\n", "model_list[0].litellm_params.timeout 'soon'"],
        ["litellm_settings:\n  custom_provider_map:\n    - provider: p\n", "litellm_settings.custom_provider_map[0] needs 'custom_handler'"],
        ["litellm_settings:\n  custom_provider_map:\n    - {provider: p, custom_handler: A}\n    - {provider: p, custom_handler: B}\n", "provider 'p' is mapped twice"],
        ["general_settings:\n  max_request_size_mb: lots\n", "general_settings.max_request_size_mb 'lots'"],
        ["model_list: 3\n", "model_list must be a list"],
    ];

    [TestCaseSource(nameof(WrongConfigs))]
    public void A_wrong_configuration_fails_startup_naming_the_file_and_the_key(string yaml, string message)
    {
        var error = Assert.ThrowsAsync<ConfigException>(() => TestProxy.StartAsync(yaml));

        Assert.That(error.Message, Does.Contain("plugins.yaml"));
        Assert.That(error.Message, Does.Contain(message));
    }

    [Test]
    public void A_missing_configuration_file_fails_startup_naming_it()
    {
        var missing = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "no-such-dir", "plugins.yaml");

        var error = Assert.Catch<ConfigException>(() => PluginHostApplication.Build(["--config", missing, "--port", "0", "--no-watch"]));

        Assert.That(error.Message, Does.Contain(missing));
    }

    [Test]
    public async Task The_master_key_can_come_from_the_environment()
    {
        const string Variable = "PLUGINHOST_TESTS_MASTER_KEY";
        Environment.SetEnvironmentVariable(Variable, "sk-from-env");
        try
        {
            var yaml = Yaml.Config(new Model("hi", "HiHandler")).Replace($"master_key: {TestProxy.MasterKey}", $"master_key: os.environ/{Variable}", StringComparison.Ordinal);
            await using var proxy = await TestProxy.StartAsync(yaml, "HiHandler");

            using var withConfigText = await proxy.Http.GetAsync("/v1/models");
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
            request.Headers.Authorization = new("Bearer", "sk-from-env");
            using var withEnvironmentValue = await proxy.Http.SendAsync(request);

            Assert.That(withConfigText.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(withEnvironmentValue.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, null);
        }
    }

    [Test]
    public async Task The_proxy_executable_exits_with_the_message_on_a_wrong_configuration()
    {
        var root = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "exe-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        var config = Path.Combine(root, "plugins.yaml");
        await File.WriteAllTextAsync(config, Yaml.Config(new Model("hi", "MyHandlr")));
        try
        {
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                ArgumentList = { typeof(PluginHostApplication).Assembly.Location, "--config", config, "--port", "0", "--no-watch" },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using var process = Process.Start(start)!;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            _ = process.StandardOutput.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);

            Assert.That(process.ExitCode, Is.EqualTo(2));
            Assert.That(await stderr, Does.StartWith($"PluginHost cannot start: {config}:").And.Contain("custom_handler 'MyHandlr'").And.Contain("available: none"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<string?> Content(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
    }
}
