using System.Net;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// SIGTERM always ends the real process (<c>dotnet PluginHost.dll</c>), with the documented exit code, whatever a plugin
/// left behind: 0 after a clean stop (a plugin's foreground thread does not hold the process), 3 when a handler's
/// Dispose hangs past <c>--shutdown-timeout</c>, 4 when a plugin's process-exit handler hangs and the watchdog ends it.
/// Without the bounded stop these processes never exit; each test bounds its wait and kills what it started.
/// </summary>
[Platform(Exclude = "Win", Reason = "sends SIGTERM")]
public sealed class ShutdownTests
{
    private const double ShutdownTimeout = 2;

    // --shutdown-timeout to drain, as much to dispose, then the exit grace: the documented worst case, with room for a busy machine.
    private static readonly TimeSpan ExitBound = TimeSpan.FromSeconds((2 * ShutdownTimeout) + 3 + 15);

    private static string Config(string handler) => Yaml.Config(new Model("m", handler));

    private static async Task<ProxyProcess> StartAsync(string handler, params string[] plugins) =>
        await ProxyProcess.StartAsync(ProxyProcess.NewRoot(Config(handler), plugins), null, "--shutdown-timeout", ShutdownTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static async Task AnswersAsync(ProxyProcess proxy)
    {
        using var response = await proxy.Http.PostAsync("/v1/chat/completions", new StringContent("""{"model":"m","messages":[{"role":"user","content":"hi"}]}"""));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    [Test]
    public async Task A_plugin_that_left_a_foreground_thread_does_not_keep_the_process_alive_after_SIGTERM()
    {
        await using var proxy = await StartAsync("Stubborn:ForegroundThreadLlm", "Stubborn");
        await AnswersAsync(proxy);

        var exitCode = await proxy.TerminateAsync(ExitBound);

        Assert.That(exitCode, Is.EqualTo(0), "exit code (null: still running). Console:\n" + string.Join('\n', proxy.Lines));
    }

    [Test]
    public async Task A_handler_whose_Dispose_hangs_is_cut_off_and_the_process_exits_3()
    {
        await using var proxy = await StartAsync("Stubborn:HangingDisposeLlm", "Stubborn");
        await AnswersAsync(proxy);

        var exitCode = await proxy.TerminateAsync(ExitBound);

        Assert.That(exitCode, Is.EqualTo(3), "exit code (null: still running). Console:\n" + string.Join('\n', proxy.Lines));
        Assert.That(proxy.Lines, Has.Some.Contains("exiting with code 3"));
    }

    [Test]
    public async Task A_process_exit_handler_that_hangs_is_ended_by_the_watchdog_with_exit_code_4()
    {
        await using var proxy = await StartAsync("Stubborn:HangingExitLlm", "Stubborn");
        await AnswersAsync(proxy);

        var exitCode = await proxy.TerminateAsync(ExitBound);

        Assert.That(exitCode, Is.EqualTo(4), "exit code (null: still running). Console:\n" + string.Join('\n', proxy.Lines));
        Assert.That(proxy.Lines, Has.Some.Contains("ending it with code 4"));
    }

    [Test]
    public async Task A_normal_proxy_finishes_the_stream_in_flight_then_exits_0()
    {
        await using var proxy = await StartAsync("TestHandlers:Scripted", "TestHandlers");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"m","stream":true,"messages":[{"role":"user","content":"slow:8:150"}]}"""),
        };
        using var response = await proxy.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var body = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.That(await body.ReadLineAsync(), Does.StartWith("data: "), "the first chunk arrived before the stop");

        var exiting = proxy.TerminateAsync(ExitBound);
        var rest = await body.ReadToEndAsync();

        Assert.That(rest, Does.Contain("data: [DONE]"), "the stream in flight finished");
        Assert.That(await exiting, Is.EqualTo(0), "exit code (null: still running). Console:\n" + string.Join('\n', proxy.Lines));
    }
}
