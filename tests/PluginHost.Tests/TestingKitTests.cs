using System.Net;
using System.Text;
using OpenAI.Chat;
using PluginHost.Sdk;
using PluginHost.Testing;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>A handler defined in the test assembly, as a plugin author's test project would have one at hand.</summary>
public sealed class KitGreeter : CustomLlm
{
    /// <inheritdoc />
    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return GenericStreamingChunk.FromText("Hello, ");
        await Task.Yield();
        yield return GenericStreamingChunk.FromText(request.Messages[^1].Content ?? "nobody");
    }
}

/// <summary>PluginHost.Testing: the real proxy in a test, from a handler type or a built plugin, with no files or ports to manage.</summary>
public sealed class TestingKitTests
{
    [Test]
    public async Task A_handler_type_answers_through_the_OpenAI_SDK_in_full_and_streamed()
    {
        await using var proxy = await PluginHostServer.StartAsync<KitGreeter>("greeter");

        ChatCompletion answer = await proxy.GetChatClient("greeter").CompleteChatAsync("Ada");
        Assert.That(answer.Content[0].Text, Is.EqualTo("Hello, Ada"));

        var streamed = new StringBuilder();
        await foreach (var update in proxy.GetChatClient("greeter").CompleteChatStreamingAsync("Grace"))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
        }

        Assert.That(streamed.ToString(), Is.EqualTo("Hello, Grace"));
        Assert.That(proxy.BaseAddress.IsLoopback, Is.True);
        Assert.That(proxy.BaseAddress.Port, Is.Not.Zero);
    }

    [Test]
    public async Task A_handler_type_is_loaded_as_a_plugin_in_its_own_load_context()
    {
        await using var proxy = await PluginHostServer.StartAsync<KitGreeter>("greeter");
        using var http = proxy.CreateClient();

        var plugins = await http.GetStringAsync("/plugins");

        Assert.That(plugins, Does.Contain("\"PluginHost.Tests\""));
        Assert.That(File.Exists(Path.Combine(proxy.PluginsDirectory, "PluginHost.Tests", "PluginHost.Tests.dll")), Is.True);
    }

    [Test]
    public async Task A_built_plugin_and_a_config_snippet_answer_through_HttpClient()
    {
        var options = new PluginHostServerOptions
        {
            Config = """
                model_list:
                  - model_name: only-completion
                    litellm_params:
                      model: test/x
                litellm_settings:
                  custom_provider_map:
                    - provider: test
                      custom_handler: TestHandlers:CompletionOnly
                """,
        };
        options.PluginAssemblies.Add(Path.Combine(TestPaths.TestPlugin("TestHandlers"), "TestHandlers.dll"));
        await using var proxy = await PluginHostServer.StartAsync(options);
        using var http = proxy.CreateClient();

        using var response = await http.PostAsync("/v1/chat/completions", new StringContent("""{"model":"only-completion","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("completion:hi"));
    }

    [Test]
    public async Task The_api_key_is_sent_by_the_clients_it_makes()
    {
        var options = new PluginHostServerOptions
        {
            ApiKey = "sk-kit",
            Config = """
                model_list:
                  - model_name: greeter
                    litellm_params:
                      model: kit/greeter
                litellm_settings:
                  custom_provider_map:
                    - provider: kit
                      custom_handler: PluginHost.Tests:PluginHost.Tests.KitGreeter
                general_settings:
                  master_key: sk-kit
                """,
        };
        options.Handlers.Add(typeof(KitGreeter));
        await using var proxy = await PluginHostServer.StartAsync(options);
        using var anonymous = new HttpClient { BaseAddress = proxy.BaseAddress };

        using var refused = await anonymous.GetAsync("/v1/models");
        ChatCompletion answer = await proxy.GetChatClient("greeter").CompleteChatAsync("Key");

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(answer.Content[0].Text, Is.EqualTo("Hello, Key"));
    }

    [Test]
    public void A_handler_the_proxy_cannot_serve_fails_the_start_with_the_proxys_reason_and_leaves_no_folder()
    {
        var before = Folders();
        var options = new PluginHostServerOptions
        {
            Config = """
                model_list:
                  - model_name: broken
                    litellm_params:
                      model: test/x
                litellm_settings:
                  custom_provider_map:
                    - provider: test
                      custom_handler: Versioned
                """,
        };
        options.PluginAssemblies.Add(Path.Combine(TestPaths.TestPlugin("Versioned.Throwing"), "Versioned.dll"));

        var error = Assert.ThrowsAsync<InvalidOperationException>(() => PluginHostServer.StartAsync(options));

        Assert.That(error!.Message, Does.Contain("plugin Versioned").And.Contain("this build's constructor always throws"));
        Assert.That(Folders().Except(before), Is.Empty);
    }

    [Test]
    public void A_configuration_the_proxy_refuses_fails_the_start_with_its_message()
    {
        var options = new PluginHostServerOptions { Config = "model_list: 42\n" };

        var error = Assert.ThrowsAsync<InvalidOperationException>(() => PluginHostServer.StartAsync(options));

        Assert.That(error!.Message, Does.StartWith("The proxy cannot start:").And.Contain("model_list"));
    }

    [Test]
    public async Task Disposing_stops_the_proxy_and_deletes_its_folder()
    {
        var proxy = await PluginHostServer.StartAsync<KitGreeter>("greeter");
        var root = proxy.RootDirectory;
        var address = proxy.BaseAddress;

        await proxy.DisposeAsync();

        Assert.That(Directory.Exists(root), Is.False);
        using var http = new HttpClient { BaseAddress = address };
        Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("/v1/models"));
    }

    private static string[] Folders()
    {
        var root = Path.Combine(Path.GetTempPath(), "pluginhost-testing");
        return Directory.Exists(root) ? Directory.GetDirectories(root) : [];
    }
}
