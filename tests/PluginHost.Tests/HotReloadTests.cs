using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using OpenAI.Chat;
using PluginHost.Plugins;
using PluginHost.Routing;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>Swapping handler assemblies while traffic flows: no failed request, old versions drain and unload.</summary>
public sealed class HotReloadTests
{
    private static readonly string VersionedConfig = Yaml.Config(
        new Model("versioned", "Versioned:VersionedLlm"),
        new Model("versioned-slow", "Versioned:VersionedLlm", ("delay_ms", "150")));

    private static string VersionedDll(TestProxy proxy) => Path.Combine(proxy.PluginsDirectory, "Versioned", "Versioned.dll");

    private static string BuildOf(string build) => Path.Combine(TestPaths.TestPlugin(build), "Versioned.dll");

    private static async Task<string> AskAsync(TestProxy proxy, string model = "versioned", string content = "hi")
    {
        var completion = (await proxy.Chat(model).CompleteChatAsync([new UserChatMessage(content)])).Value;
        return completion.Content[0].Text;
    }

    private static LoadedPlugin Active(ProxySnapshot snapshot, string name) => snapshot.Plugins.Single(p => p.Name == name);

    /// <summary>Overwrites the plugin in place, as cp and dotnet build do, and waits until the watcher swapped it in.</summary>
    private static async Task SwapAsync(TestProxy proxy, string build)
    {
        var before = Active(proxy.Runtime.Current, "Versioned").Generation;
        File.Copy(BuildOf(build), VersionedDll(proxy), overwrite: true);
        await proxy.WaitForSnapshotAsync(s => s.Plugins.Any(p => p.Name == "Versioned" && p.Generation != before));
    }

    [Test]
    public async Task Continuous_requests_across_twenty_swaps_all_succeed_and_move_between_versions()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")], watch: true);
        using var stop = new CancellationTokenSource();
        var answers = new List<(int Swap, string Answer)>();
        var failures = new List<string>();
        var swap = 0;

        async Task Load()
        {
            var chat = proxy.Chat("versioned");
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var answer = (await chat.CompleteChatAsync([new UserChatMessage("hi")])).Value.Content[0].Text;
                    lock (answers)
                    {
                        answers.Add((Volatile.Read(ref swap), answer));
                    }
                }
                catch (Exception ex)
                {
                    lock (failures)
                    {
                        failures.Add(ex.Message);
                    }
                }
            }
        }

        var load = Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(Load)));
        for (var i = 1; i <= 20; i++)
        {
            await SwapAsync(proxy, i % 2 == 1 ? "Versioned.V2" : "Versioned.V1");
            Volatile.Write(ref swap, i);
            var expected = i % 2 == 1 ? "v2" : "v1";
            Assert.That(await AskAsync(proxy), Is.EqualTo(expected), $"after swap {i}");
        }

        await stop.CancelAsync();
        await load;

        Assert.That(failures, Is.Empty);
        Assert.That(answers.Select(a => a.Answer).Distinct(), Is.EquivalentTo(new[] { "v1", "v2" }));
        Assert.That(answers, Has.Count.GreaterThan(40));
    }

    [Test]
    public async Task A_stream_opened_on_v1_finishes_on_v1_across_a_swap()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")], watch: true);
        var pieces = new List<string>();
        // 20 pieces 150 ms apart: the stream outlasts a swap even on a busy machine (6 did not, once in CI).
        const int Pieces = 20;
        var stream = proxy.Chat("versioned-slow").CompleteChatStreamingAsync([new UserChatMessage($"{Pieces}")]);
        await using var updates = stream.GetAsyncEnumerator();

        // Read until the first text arrives, so the stream is running on v1 before the swap.
        while (pieces.Count == 0 && await updates.MoveNextAsync())
        {
            pieces.AddRange(updates.Current.ContentUpdate.Select(c => c.Text).Where(t => t.Length > 0));
        }

        await SwapAsync(proxy, "Versioned.V2");
        var old = proxy.Runtime.Retired.Single(p => p.Name == "Versioned");
        Assert.That(old.State, Is.EqualTo(PluginState.Draining), "the old version must wait for the open stream");
        Assert.That(await AskAsync(proxy), Is.EqualTo("v2"), "new requests go to v2 while the stream still runs on v1");

        while (await updates.MoveNextAsync())
        {
            pieces.AddRange(updates.Current.ContentUpdate.Select(c => c.Text).Where(t => t.Length > 0));
        }

        Assert.That(string.Concat(pieces), Is.EqualTo(string.Concat(Enumerable.Range(0, Pieces).Select(i => $"v1-{i} "))));
        await WaitUntilAsync(() => old.State == PluginState.Unloaded, "the drained v1 unloads");
    }

    [Test]
    public async Task The_retired_load_context_is_collected_after_drain()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")]);
        Assert.That(await AskAsync(proxy), Is.EqualTo("v1"));
        var context = WeakContextOf(proxy.Runtime.Current);

        File.Copy(BuildOf("Versioned.V2"), VersionedDll(proxy), overwrite: true);
        await proxy.ReloadAsync();
        Assert.That(await AskAsync(proxy), Is.EqualTo("v2"));

        // Drop every strong reference and collect, with a bound: the v1 context must die.
        for (var i = 0; i < 50 && context.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Delay(20);
        }

        Assert.That(context.IsAlive, Is.False, "v1's AssemblyLoadContext is still alive after unload");
        await WaitUntilAsync(() => proxy.Runtime.Retired.Single(p => p.Name == "Versioned").State == PluginState.Unloaded, "the host reports v1 unloaded");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference WeakContextOf(ProxySnapshot snapshot) => Active(snapshot, "Versioned").Context;

    [TestCase("corrupt")]
    [TestCase("truncated")]
    [TestCase("Versioned.Throwing")]
    [TestCase("Versioned.StaticThrowing")]
    [TestCase("Versioned.Renamed")]
    [TestCase("Versioned.Hanging")]
    [TestCase("empty")]
    public async Task A_bad_new_version_keeps_v1_serving_and_is_reported(string badVersion)
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")], watch: false, "--constructor-timeout", "0.5");
        var v1 = Active(proxy.Runtime.Current, "Versioned");
        var good = await File.ReadAllBytesAsync(BuildOf("Versioned.V2"));
        var bytes = badVersion switch
        {
            "corrupt" => good.Select((b, i) => i > 512 && i % 7 == 0 ? (byte)~b : b).ToArray(),
            "truncated" => good[..(good.Length / 2)],
            "empty" => [],
            _ => await File.ReadAllBytesAsync(BuildOf(badVersion)),
        };
        await File.WriteAllBytesAsync(VersionedDll(proxy), bytes);

        await proxy.ReloadAsync();

        Assert.That(await AskAsync(proxy), Is.EqualTo("v1"));
        Assert.That(Active(proxy.Runtime.Current, "Versioned"), Is.SameAs(v1));
        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/plugins");
        var plugin = status.GetProperty("plugins").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "Versioned");
        Assert.That(plugin.GetProperty("state").GetString(), Is.EqualTo("active"));
        Assert.That(plugin.GetProperty("last_error").GetString(), Is.Not.Null.And.Not.Empty);

        // A good version afterwards is taken.
        await File.WriteAllBytesAsync(VersionedDll(proxy), good);
        await proxy.ReloadAsync();
        Assert.That(await AskAsync(proxy), Is.EqualTo("v2"));
    }

    [Test]
    public async Task A_half_written_file_is_retried_until_complete()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")], watch: true);
        var good = await File.ReadAllBytesAsync(BuildOf("Versioned.V2"));
        var before = Active(proxy.Runtime.Current, "Versioned").Generation;

        // Write the first half, let the watcher see it, then finish the file, as a slow build would.
        await using (var file = new FileStream(VersionedDll(proxy), FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
        {
            await file.WriteAsync(good.AsMemory(0, good.Length / 2));
            await file.FlushAsync();
            await proxy.WaitForSnapshotAsync(s => s.Failures.Any(f => f.Name == "Versioned"));
            await file.WriteAsync(good.AsMemory(good.Length / 2));
        }

        await proxy.WaitForSnapshotAsync(s => Active(s, "Versioned").Generation != before && s.Failures.Count == 0);
        Assert.That(await AskAsync(proxy), Is.EqualTo("v2"));
    }

    [Test]
    public async Task A_version_the_watcher_loads_is_built_at_the_lowest_CPU_priority_so_requests_go_first()
    {
        Assume.That(OperatingSystem.IsLinux(), "thread priorities are set on Linux only");
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")], watch: true);
        var before = Active(proxy.Runtime.Current, "Versioned").Generation;

        TestProxy.InstallPlugin(proxy.PluginsDirectory, "Versioned", "Versioned.V2");
        await proxy.WaitForSnapshotAsync(s => Active(s, "Versioned").Generation != before);

        Assert.That(await AskAsync(proxy, content: "constructed-priority"), Is.EqualTo("SCHED_IDLE"), "the scheduling class of the thread that ran v2's constructor");
        Assert.That(await AskAsync(proxy), Is.EqualTo("v2"));
    }

    [Test]
    public async Task A_single_file_plugin_is_loaded_and_reloaded()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned.dll", "Versioned.V1")]);
        Assert.That(await AskAsync(proxy), Is.EqualTo("v1"));

        File.Copy(BuildOf("Versioned.V2"), Path.Combine(proxy.PluginsDirectory, "Versioned.dll"), overwrite: true);
        await proxy.ReloadAsync();
        Assert.That(await AskAsync(proxy), Is.EqualTo("v2"));
    }

    [Test]
    public async Task Removing_a_plugin_answers_503_naming_it_and_restoring_it_brings_the_model_back()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")]);
        Directory.Delete(Path.Combine(proxy.PluginsDirectory, "Versioned"), recursive: true);
        await proxy.ReloadAsync();

        using var response = await proxy.Http.PostAsJsonAsync("/v1/chat/completions", new { model = "versioned", messages = new[] { new { role = "user", content = "hi" } } });
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(error.GetProperty("message").GetString(), Does.Contain("Versioned"));
        var readiness = await proxy.Http.GetFromJsonAsync<JsonElement>("/health/readiness");
        Assert.That(readiness.GetProperty("unavailable_models")[0].GetString(), Does.StartWith("versioned"));
        Assert.That(readiness.GetProperty("config_error").ValueKind, Is.EqualTo(JsonValueKind.Null), "a removed plugin is not a configuration error");

        TestProxy.InstallPlugin(proxy.PluginsDirectory, "Versioned", "Versioned.V2");
        await proxy.ReloadAsync();
        Assert.That(await AskAsync(proxy), Is.EqualTo("v2"));
    }

    [Test]
    public async Task Editing_plugins_yaml_adds_and_remaps_models_and_a_bad_edit_is_rejected()
    {
        await using var proxy = await TestProxy.StartAsync(
            Yaml.Config(new Model("a", "TestHandlers:CompletionOnly")),
            [("TestHandlers", "TestHandlers"), ("Versioned", "Versioned.V1")],
            watch: true);
        Assert.That(await AskAsync(proxy, "a", "x"), Is.EqualTo("completion:x"));

        // Remap "a" to another handler and add "b".
        await File.WriteAllTextAsync(proxy.ConfigPath, Yaml.Config(new Model("a", "Versioned"), new Model("b", "TestHandlers:CompletionAsyncOnly")));
        await proxy.WaitForSnapshotAsync(s => s.ModelsByName.ContainsKey("b"));
        Assert.That(await AskAsync(proxy, "a"), Is.EqualTo("v1"));
        Assert.That(await AskAsync(proxy, "b", "y"), Is.EqualTo("acompletion:y"));

        // A broken file and a file naming a handler that does not exist are both rejected; the last good config keeps serving.
        foreach (var bad in new[] { "model_list: [ {", Yaml.Config(new Model("c", "NoSuchHandler")) })
        {
            await File.WriteAllTextAsync(proxy.ConfigPath, bad);
            await proxy.WaitForSnapshotAsync(s => s.Reload.ConfigError is not null);
            Assert.That(await AskAsync(proxy, "b", "z"), Is.EqualTo("acompletion:z"));
            var readiness = await proxy.Http.GetFromJsonAsync<JsonElement>("/health/readiness");
            Assert.That(readiness.GetProperty("status").GetString(), Is.EqualTo("degraded"));
            Assert.That(readiness.GetProperty("config_error").GetString(), Does.Contain("plugins.yaml"));

            await File.WriteAllTextAsync(proxy.ConfigPath, Yaml.Config(new Model("a", "Versioned"), new Model("b", "TestHandlers:CompletionAsyncOnly")));
            await proxy.WaitForSnapshotAsync(s => s.Reload.ConfigError is null);
        }
    }

    [Test]
    public async Task Two_handlers_with_different_versions_of_one_dependency_each_see_their_own()
    {
        await using var proxy = await TestProxy.StartAsync(
            Yaml.Config(new Model("json12", "DependsOnJson12"), new Model("json13", "DependsOnJson13")),
            "DependsOnJson12",
            "DependsOnJson13");

        Assert.That(await AskAsync(proxy, "json12", "a"), Is.EqualTo("12.0.0.0 \"a\""));
        Assert.That(await AskAsync(proxy, "json13", "b"), Is.EqualTo("13.0.0.0 \"b\""));
    }

    [Test]
    public async Task A_plugin_that_fails_at_startup_fails_only_its_own_models()
    {
        await using var proxy = await TestProxy.StartAsync(
            Yaml.Config(new Model("hi", "HiHandler"), new Model("versioned", "Versioned")),
            [("HiHandler", "HiHandler"), ("Versioned", "Versioned.Throwing")]);

        Assert.That(await AskAsync(proxy, "hi"), Is.EqualTo("Hi!"));
        using var response = await proxy.Http.PostAsJsonAsync("/v1/chat/completions", new { model = "versioned", messages = new[] { new { role = "user", content = "hi" } } });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("constructor"));

        var readiness = await proxy.Http.GetFromJsonAsync<JsonElement>("/health/readiness");
        Assert.That(readiness.GetProperty("status").GetString(), Is.EqualTo("degraded"));
        Assert.That(readiness.GetProperty("failed_plugins")[0].GetString(), Does.StartWith("Versioned"));
    }

    [Test]
    public async Task With_require_handlers_a_plugin_that_fails_at_startup_fails_the_startup()
    {
        var yaml = Yaml.Config(new Model("hi", "HiHandler"), new Model("versioned", "Versioned")) + "  require_handlers: true\n";

        var error = Assert.ThrowsAsync<PluginHost.Configuration.ConfigException>(
            async () => await TestProxy.StartAsync(yaml, [("HiHandler", "HiHandler"), ("Versioned", "Versioned.Throwing")]));

        Assert.That(error!.Message, Does.Contain("require_handlers").And.Contain("versioned").And.Contain("constructor"));
    }

    [Test]
    public async Task Plugins_status_reports_active_draining_unloaded_failed_and_leaked()
    {
        await using var proxy = await TestProxy.StartAsync(
            Yaml.Config(new Model("versioned-slow", "Versioned", ("delay_ms", "100")), new Model("leaky", "Leaky")),
            [("Versioned", "Versioned.V1"), ("Leaky", "Leaky")],
            watch: false,
            "--unload-timeout", "1");

        Assert.That(await StateOf(proxy, "Versioned"), Is.EqualTo("active"));

        // Draining: a stream is open on v1 when v2 arrives (15 pieces 100 ms apart: it outlasts a reload on a busy machine).
        var stream = proxy.Chat("versioned-slow").CompleteChatStreamingAsync([new UserChatMessage("15")]);
        await using var updates = stream.GetAsyncEnumerator();
        Assert.That(await updates.MoveNextAsync(), Is.True);
        File.Copy(BuildOf("Versioned.V2"), VersionedDll(proxy), overwrite: true);
        await proxy.ReloadAsync();
        Assert.That(await RetiredStateOf(proxy, "Versioned"), Is.EqualTo("draining"));

        // Unloaded: the stream ends, v1 drains and is collected.
        while (await updates.MoveNextAsync())
        {
        }

        await WaitUntilAsync(async () => await RetiredStateOf(proxy, "Versioned") == "unloaded", "v1 reported unloaded");

        // Leaked: the leaky plugin's thread keeps its context alive after it is removed.
        Directory.Delete(Path.Combine(proxy.PluginsDirectory, "Leaky"), recursive: true);
        await proxy.ReloadAsync();
        await WaitUntilAsync(async () => await RetiredStateOf(proxy, "Leaky") == "leaked", "Leaky reported leaked");
        Assert.That(proxy.Logs.Lines, Has.Some.Contains("leaked").And.Contains("thread"));

        // Failed: a plugin that cannot load at all.
        await File.WriteAllBytesAsync(Path.Combine(proxy.PluginsDirectory, "Garbage.dll"), [1, 2, 3]);
        await proxy.ReloadAsync();
        Assert.That(await StateOf(proxy, "Garbage"), Is.EqualTo("failed"));
    }

    [Test]
    public async Task A_plugin_built_on_the_IChatClient_bridge_unloads_completely()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("eliza", "ElizaHandler")), "ElizaHandler");
        Assert.That(await AskAsync(proxy, "eliza", "I feel tired"), Is.Not.Empty);
        await foreach (var _ in proxy.Chat("eliza").CompleteChatStreamingAsync([new UserChatMessage("I am happy")]))
        {
        }

        Directory.Delete(Path.Combine(proxy.PluginsDirectory, "ElizaHandler"), recursive: true);
        await proxy.ReloadAsync();

        // Microsoft.Extensions.AI.Abstractions lives in the plugin's own context: nothing of it may pin the context.
        await WaitUntilAsync(() => proxy.Runtime.Retired.Single(p => p.Name == "ElizaHandler").State is PluginState.Unloaded or PluginState.Leaked, "Eliza unloads");
        Assert.That(proxy.Runtime.Retired.Single(p => p.Name == "ElizaHandler").State, Is.EqualTo(PluginState.Unloaded));
    }

    [Test]
    public async Task Graceful_shutdown_lets_a_running_stream_finish()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")]);
        var stream = proxy.Chat("versioned-slow").CompleteChatStreamingAsync([new UserChatMessage("4")]);
        var pieces = new List<string>();
        await using var updates = stream.GetAsyncEnumerator();
        while (pieces.Count == 0 && await updates.MoveNextAsync())
        {
            pieces.AddRange(updates.Current.ContentUpdate.Select(c => c.Text).Where(t => t.Length > 0));
        }

        var stopping = proxy.StopAsync();
        while (await updates.MoveNextAsync())
        {
            pieces.AddRange(updates.Current.ContentUpdate.Select(c => c.Text).Where(t => t.Length > 0));
        }

        await stopping;
        Assert.That(string.Concat(pieces), Is.EqualTo("v1-0 v1-1 v1-2 v1-3 "));
    }

    private static async Task<string?> StateOf(TestProxy proxy, string name)
    {
        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/plugins");
        return status.GetProperty("plugins").EnumerateArray().SingleOrDefault(p => p.GetProperty("name").GetString() == name) is { ValueKind: JsonValueKind.Object } plugin
            ? plugin.GetProperty("state").GetString()
            : null;
    }

    private static async Task<string?> RetiredStateOf(TestProxy proxy, string name)
    {
        var status = await proxy.Http.GetFromJsonAsync<JsonElement>("/plugins");
        return status.GetProperty("retired").EnumerateArray().LastOrDefault(p => p.GetProperty("name").GetString() == name) is { ValueKind: JsonValueKind.Object } plugin
            ? plugin.GetProperty("state").GetString()
            : null;
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("Timed out waiting: " + what);
            }

            await Task.Delay(25);
        }
    }
}
