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
        await AskAsync(proxy, "warm up");

        var blocking = AskAsync(proxy, $"block:{BlockMs}");
        await Task.Delay(500);
        var other = Stopwatch.StartNew();
        var answer = await AskAsync(proxy, "anything else");
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

    private static async Task<string> AskAsync(ProxyProcess proxy, string text)
    {
        using var response = await proxy.Http.PostAsync("/v1/chat/completions", new StringContent($$"""{"model":"m","messages":[{"role":"user","content":"{{text}}"}]}"""));
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        return body;
    }
}
