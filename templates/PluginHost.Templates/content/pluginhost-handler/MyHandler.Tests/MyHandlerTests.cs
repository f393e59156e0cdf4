using System.Text;
using OpenAI.Chat;
using PluginHost.Testing;

namespace MyHandler.Tests;

/// <summary>The handler through the real proxy: loaded as a plugin, asked with the OpenAI .NET SDK.</summary>
#if (mstest)
[TestClass]
#endif
public sealed class MyHandlerTests
{
#if (chatclient)
    private const string Expected = MyHandlerChatClient.Answer;
#else
    private const string Expected = MyHandlerLlm.Answer;
#endif

#if (xunit)
    [Fact]
#elif (mstest)
    [TestMethod]
#else
    [Test]
#endif
    public async Task Answers_a_chat_completion()
    {
        await using var proxy = await PluginHostServer.StartAsync<MyHandlerLlm>("my-model-name");

        ChatCompletion answer = await proxy.GetChatClient("my-model-name").CompleteChatAsync("Hello");

#if (xunit)
        Assert.Equal(Expected, answer.Content[0].Text);
#elif (mstest)
        Assert.AreEqual(Expected, answer.Content[0].Text);
#else
        Assert.That(answer.Content[0].Text, Is.EqualTo(Expected));
#endif
    }

#if (xunit)
    [Fact]
#elif (mstest)
    [TestMethod]
#else
    [Test]
#endif
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

#if (xunit)
        Assert.Equal(Expected, text.ToString());
#elif (mstest)
        Assert.AreEqual(Expected, text.ToString());
#else
        Assert.That(text.ToString(), Is.EqualTo(Expected));
#endif
    }
}
