using System.Text;
using OpenAI.Chat;
using PluginHost.Testing;

namespace MyHandler.Tests;

/// <summary>The handler through the real proxy: loaded as a plugin, asked with the OpenAI .NET SDK.</summary>
public sealed class MyHandlerTests
{
#if (chatclient)
    private const string Expected = MyHandlerChatClient.Answer;
#else
    private const string Expected = MyHandlerLlm.Answer;
#endif

    [Test]
    public async Task Answers_a_chat_completion()
    {
        await using var proxy = await PluginHostServer.StartAsync<MyHandlerLlm>("my-model-name");

        ChatCompletion answer = await proxy.GetChatClient("my-model-name").CompleteChatAsync("Hello");

        Assert.That(answer.Content[0].Text, Is.EqualTo(Expected));
    }

    [Test]
    public async Task Answers_a_streamed_chat_completion()
    {
        await using var proxy = await PluginHostServer.StartAsync<MyHandlerLlm>("my-model-name");

        var text = new StringBuilder();
        await foreach (var update in proxy.GetChatClient("my-model-name").CompleteChatStreamingAsync("Hello"))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }
        }

        Assert.That(text.ToString(), Is.EqualTo(Expected));
    }
}
