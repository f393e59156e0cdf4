using System.ClientModel;
using System.Net;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// The client's disconnect and the deployment's <c>timeout</c> both reach the handler's <c>CancellationToken</c>.
/// The Scripted handler's <c>hang</c> writes a marker file when it starts and another when it is cancelled.
/// </summary>
public sealed class CancellationTests
{
    private string _markers = null!;
    private string _started = null!;
    private string _cancelled = null!;
    private TestProxy _proxy = null!;

    [SetUp]
    public async Task StartProxy()
    {
        _markers = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "markers-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_markers);
        _started = Path.Combine(_markers, "started");
        _cancelled = Path.Combine(_markers, "cancelled");
        _proxy = await TestProxy.StartAsync(
            Yaml.Config(
                new Model("hang", "TestHandlers:Scripted", ("started_marker", _started), ("cancel_marker", _cancelled)),
                new Model("hang-with-timeout", "TestHandlers:Scripted", ("started_marker", _started), ("cancel_marker", _cancelled), ("timeout", "0.2"))),
            "TestHandlers");
    }

    [TearDown]
    public async Task StopProxy()
    {
        await _proxy.DisposeAsync();
        Directory.Delete(_markers, recursive: true);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_client_that_disconnects_before_the_answer_cancels_the_handler(bool stream)
    {
        using var disconnect = new CancellationTokenSource();
        var request = _proxy.PostAsync("/chat/completions", Body("hang", "hang", stream), cancellationToken: disconnect.Token);
        await Wait.ForFileAsync(_started);

        await disconnect.CancelAsync();

        Assert.CatchAsync<OperationCanceledException>(async () => (await request).Dispose());
        await Wait.ForFileAsync(_cancelled);
        await WaitForNoRequestsInFlight();
    }

    [Test]
    public async Task A_client_that_disconnects_mid_stream_cancels_the_handler()
    {
        using var handler = new SocketsHttpHandler { MaxResponseDrainSize = 0 };
        using var client = new HttpClient(handler) { BaseAddress = _proxy.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.Authorization = _proxy.Http.DefaultRequestHeaders.Authorization;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/chat/completions") { Content = new StringContent(Body("hang", "hang-after-first", stream: true)) };
        using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        using (var sse = new SseReader(await response.Content.ReadAsStreamAsync()))
        {
            Assert.That(await sse.ReadEventAsync(), Does.Contain("\"first\""));
            Assert.That(File.Exists(_cancelled), Is.False, "the handler is still running");
        }

        await Wait.ForFileAsync(_cancelled);
        await WaitForNoRequestsInFlight();
    }

    [Test]
    public async Task Cancelling_an_OpenAI_SDK_call_cancels_the_handler()
    {
        using var cancel = new CancellationTokenSource();
        var call = _proxy.Chat("hang").CompleteChatAsync([new UserChatMessage("hang")], cancellationToken: cancel.Token);
        await Wait.ForFileAsync(_started);

        await cancel.CancelAsync();

        Assert.CatchAsync<OperationCanceledException>(() => call);
        await Wait.ForFileAsync(_cancelled);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_handler_past_the_deployments_timeout_is_cancelled_and_the_client_gets_408(bool stream)
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body("hang-with-timeout", "hang", stream));

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.RequestTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("0.2 s").And.Contain("litellm_params.timeout"));
            Assert.That(error.GetProperty("code").GetString(), Is.EqualTo("timeout"));
            Assert.That(File.Exists(_cancelled), Is.True, "the handler's token was cancelled");
        });
    }

    [Test]
    public async Task A_stream_past_the_deployments_timeout_ends_with_a_408_error_event()
    {
        using var response = await _proxy.PostAsync("/chat/completions", Body("hang-with-timeout", "hang-after-first", stream: true));
        using var sse = new SseReader(await response.Content.ReadAsStreamAsync());

        var events = await sse.ReadAllAsync();

        Assert.That(events, Has.Count.EqualTo(2), string.Join("\n", events));
        var error = OpenAiErrors.AssertErrorBody(events[1]);
        Assert.That(error.GetProperty("code").GetString(), Is.EqualTo("timeout"));
        Assert.That(File.Exists(_cancelled), Is.True, "the handler's token was cancelled");
    }

    [Test]
    public void The_OpenAI_SDK_sees_the_timeout_as_a_408()
    {
        var error = Assert.ThrowsAsync<ClientResultException>(() => _proxy.Chat("hang-with-timeout").CompleteChatAsync([new UserChatMessage("hang")]));

        Assert.That(error.Status, Is.EqualTo(408));
        Assert.That(error.Message, Does.Contain("Request timed out"));
    }

    private Task WaitForNoRequestsInFlight() =>
        Wait.UntilAsync(() => _proxy.Runtime.Current.Plugins.Single(p => p.Name == "TestHandlers").InFlight == 0, "the request's lease to be released");

    private static string Body(string model, string command, bool stream) =>
        JsonSerializer.Serialize(new { model, stream, messages = new[] { new { role = "user", content = command } } });
}
