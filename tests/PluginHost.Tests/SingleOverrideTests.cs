using System.ClientModel;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// A handler that overrides any one of the four chat methods serves both plain and streaming clients; one that
/// overrides none answers 500 "Not implemented yet!", as on the reference page. Each test handler is a real plugin.
/// </summary>
public sealed class SingleOverrideTests
{
    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartProxy()
    {
        _proxy = await TestProxy.StartAsync(
            Yaml.Config(
                new Model("completion", "TestHandlers:CompletionOnly"),
                new Model("acompletion", "TestHandlers:CompletionAsyncOnly"),
                new Model("streaming", "TestHandlers:StreamingOnly"),
                new Model("astreaming", "TestHandlers:StreamingAsyncOnly"),
                new Model("none", "TestHandlers:NoOverrides")),
            "TestHandlers");
    }

    [OneTimeTearDown]
    public async Task StopProxy() => await _proxy.DisposeAsync();

    // model, the text it answers to "hello", its finish reason, its prompt and completion tokens.
    private static readonly object[] Overrides =
    [
        new object[] { "completion", "completion:hello", "stop", 3, 4 },
        new object[] { "acompletion", "acompletion:hello", "stop", 3, 4 },
        new object[] { "streaming", "streaming:hello", "length", 3, 2 },
        new object[] { "astreaming", "astreaming:hello", "stop", 3, 2 },
    ];

    [TestCaseSource(nameof(Overrides))]
    public async Task A_single_override_serves_a_plain_request(string model, string text, string finish, int promptTokens, int completionTokens)
    {
        var completion = (await _proxy.Chat(model).CompleteChatAsync([new UserChatMessage("hello")])).Value;

        Assert.Multiple(() =>
        {
            Assert.That(completion.Content.Single().Text, Is.EqualTo(text));
            Assert.That(completion.FinishReason, Is.EqualTo(FinishReason(finish)));
            Assert.That(completion.Usage.InputTokenCount, Is.EqualTo(promptTokens));
            Assert.That(completion.Usage.OutputTokenCount, Is.EqualTo(completionTokens));
            Assert.That(completion.Model, Is.EqualTo(model));
        });
    }

    [TestCaseSource(nameof(Overrides))]
    public async Task A_single_override_serves_a_streaming_request(string model, string text, string finish, int promptTokens, int completionTokens)
    {
        var received = new System.Text.StringBuilder();
        var finishes = new List<ChatFinishReason>();
        ChatTokenUsage? usage = null;
        await foreach (var update in _proxy.Chat(model).CompleteChatStreamingAsync([new UserChatMessage("hello")]))
        {
            foreach (var part in update.ContentUpdate)
            {
                received.Append(part.Text);
            }

            if (update.FinishReason is { } reason)
            {
                finishes.Add(reason);
            }

            usage ??= update.Usage;
        }

        Assert.Multiple(() =>
        {
            Assert.That(received.ToString(), Is.EqualTo(text));
            Assert.That(finishes, Is.EqualTo(new[] { FinishReason(finish) }), "exactly one finish");
            Assert.That(usage?.InputTokenCount, Is.EqualTo(promptTokens));
            Assert.That(usage?.OutputTokenCount, Is.EqualTo(completionTokens));
        });
    }

    [Test]
    public void A_handler_that_overrides_nothing_answers_500_Not_implemented_yet_to_a_plain_request()
    {
        var error = Assert.ThrowsAsync<ClientResultException>(() => _proxy.Chat("none").CompleteChatAsync([new UserChatMessage("hello")]));

        Assert.That(error.Status, Is.EqualTo(500));
        Assert.That(error.Message, Does.Contain("Not implemented yet!"));
    }

    [Test]
    public void A_handler_that_overrides_nothing_answers_500_Not_implemented_yet_to_a_streaming_request()
    {
        var error = Assert.ThrowsAsync<ClientResultException>(async () =>
        {
            await foreach (var update in _proxy.Chat("none").CompleteChatStreamingAsync([new UserChatMessage("hello")]))
            {
                Assert.Fail("no update is expected, got " + update.CompletionId);
            }
        });

        Assert.That(error.Status, Is.EqualTo(500));
        Assert.That(error.Message, Does.Contain("Not implemented yet!"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Not_implemented_yet_has_the_OpenAI_error_body(bool stream)
    {
        using var response = await _proxy.PostAsync("/chat/completions", $$"""{"model":"none","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hello"}]}""");

        var error = await OpenAiErrors.AssertErrorAsync(response, System.Net.HttpStatusCode.InternalServerError);
        Assert.That(error.GetProperty("message").GetString(), Is.EqualTo("Not implemented yet!"));
    }

    private static ChatFinishReason FinishReason(string value) => value switch
    {
        "stop" => ChatFinishReason.Stop,
        "length" => ChatFinishReason.Length,
        _ => throw new ArgumentOutOfRangeException(nameof(value), value, null),
    };
}
