using System.Diagnostics;
using System.Net;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// What <c>--inline-io</c> risks, on the real process: requests run on the socket thread, so a handler that blocks
/// that thread holds up a request on another connection; without the flag the thread pool serves it at once. The
/// process runs one socket thread (<c>DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=1</c>, what a one-core container
/// gets), so the two connections share it whatever the machine's core count.
/// </summary>
public sealed class InlineIoTests
{
    private const int BlockMs = 2500;

    [TestCase(true)]
    [TestCase(false)]
    public async Task A_handler_that_blocks_holds_up_another_connection_only_with_inline_io(bool inlineIo)
    {
        var root = ProxyProcess.NewRoot(Yaml.Config(new Model("m", "TestHandlers:Scripted")), "TestHandlers");
        var environment = new Dictionary<string, string> { ["DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT"] = "1" };
        await using var proxy = await ProxyProcess.StartAsync(root, environment, inlineIo ? ["--inline-io"] : []);
        // Two clients, one connection each, both opened and idle first: a new connection's first request starts on the
        // thread pool (Kestrel hands a new connection to it), a request on an idle one on the socket thread that wakes it.
        using var second = new HttpClient { BaseAddress = proxy.Http.BaseAddress, Timeout = proxy.Http.Timeout };
        second.DefaultRequestHeaders.Authorization = proxy.Http.DefaultRequestHeaders.Authorization;
        await AskAsync(proxy.Http, "warm up");
        await AskAsync(second, "warm up");
        await Task.Delay(200);

        var blocking = AskAsync(proxy.Http, $"block:{BlockMs}");
        await Task.Delay(500);
        var other = Stopwatch.StartNew();
        var answer = await AskAsync(second, "anything else");
        other.Stop();

        Assert.That(await blocking, Does.Contain("unblocked"));
        Assert.That(answer, Does.Contain("anything else"));
        if (inlineIo)
        {
            Assert.That(other.ElapsedMilliseconds, Is.GreaterThan(BlockMs / 2), "the other connection waited for the blocked socket thread");
        }
        else
        {
            Assert.That(other.ElapsedMilliseconds, Is.LessThan(BlockMs / 2), "a thread-pool thread served the other connection");
        }
    }

    private static async Task<string> AskAsync(HttpClient client, string text)
    {
        using var response = await client.PostAsync("/v1/chat/completions", new StringContent($$"""{"model":"m","messages":[{"role":"user","content":"{{text}}"}]}"""));
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        return body;
    }
}
