using System.Net;
using System.Text;
using System.Text.Json;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>The reference page, end to end: its config shape, its handler, its curl request verbatim.</summary>
public sealed class ReferencePageTests
{
    private const string ReferenceConfig = """
        model_list:
          - model_name: "my-custom-model"
            litellm_params:
              model: "my-custom-llm/my-model"

        litellm_settings:
          custom_provider_map:
            - {"provider": "my-custom-llm", "custom_handler": HiHandler}

        general_settings:
          master_key: sk-1234
        """;

    // The page's body, byte for byte, trailing comma included.
    private const string ReferenceBody = """
        {
        "model": "my-custom-model",
        "messages": [{"role": "user", "content": "Say \"this is a test\" in JSON!"}],
        }
        """;

    [Test]
    public async Task The_reference_curl_request_returns_a_chat_completion_saying_Hi()
    {
        await using var proxy = await TestProxy.StartAsync(ReferenceConfig, "HiHandler");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/chat/completions")
        {
            Content = new StringContent(ReferenceBody, Encoding.UTF8, "application/json"),
        };

        using var response = await proxy.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("object").GetString(), Is.EqualTo("chat.completion"));
            Assert.That(root.GetProperty("id").GetString(), Does.StartWith("chatcmpl-"));
            Assert.That(root.GetProperty("model").GetString(), Is.EqualTo("my-custom-model"));
            Assert.That(root.GetProperty("created").GetInt64(), Is.EqualTo(DateTimeOffset.UtcNow.ToUnixTimeSeconds()).Within(60));
            var choice = root.GetProperty("choices")[0];
            Assert.That(choice.GetProperty("message").GetProperty("content").GetString(), Is.EqualTo("Hi!"));
            Assert.That(choice.GetProperty("message").GetProperty("role").GetString(), Is.EqualTo("assistant"));
            Assert.That(choice.GetProperty("finish_reason").GetString(), Is.EqualTo("stop"));
            Assert.That(root.GetProperty("usage").GetProperty("total_tokens").GetInt32(), Is.EqualTo(30));
        });
    }

    [Test]
    public async Task The_OpenAI_SDK_gets_Hi_from_the_reference_handler()
    {
        await using var proxy = await TestProxy.StartAsync(ReferenceConfig, "HiHandler");

        var completion = (await proxy.Chat("my-custom-model").CompleteChatAsync([new OpenAI.Chat.UserChatMessage("Hello world!")])).Value;

        Assert.Multiple(() =>
        {
            Assert.That(completion.Content[0].Text, Is.EqualTo("Hi!"));
            Assert.That(completion.Model, Is.EqualTo("my-custom-model"));
            Assert.That(completion.FinishReason, Is.EqualTo(OpenAI.Chat.ChatFinishReason.Stop));
            Assert.That(completion.Usage.TotalTokenCount, Is.EqualTo(30));
        });
    }

    [Test]
    public async Task The_OpenAI_SDK_streams_from_the_echo_handler_word_by_word()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("echo", "EchoHandler")), "EchoHandler");

        var updates = new List<string>();
        OpenAI.Chat.ChatFinishReason? finish = null;
        await foreach (var update in proxy.Chat("echo").CompleteChatStreamingAsync([new OpenAI.Chat.UserChatMessage("one two three")]))
        {
            updates.AddRange(update.ContentUpdate.Select(c => c.Text));
            finish ??= update.FinishReason;
        }

        Assert.That(updates.Where(u => u.Length > 0), Is.EqualTo(new[] { "one", " two", " three" }));
        Assert.That(finish, Is.EqualTo(OpenAI.Chat.ChatFinishReason.Stop));
    }
}
