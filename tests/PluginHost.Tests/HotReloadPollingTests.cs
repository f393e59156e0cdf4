using System.Diagnostics;
using OpenAI.Chat;
using PluginHost.Plugins;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// Hot reload by polling, for plugins folders where file system events never arrive (bind mounts, network
/// shares): the same swaps as with events, found by scanning.
/// </summary>
public sealed class HotReloadPollingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static readonly string VersionedConfig = Yaml.Config(new Model("versioned", "Versioned:VersionedLlm"));

    private static async Task<string> AskAsync(TestProxy proxy, string model = "versioned") =>
        (await proxy.Chat(model).CompleteChatAsync([new UserChatMessage("hi")])).Value.Content[0].Text;

    /// <summary>Overwrites the plugin in place, as cp does, and waits until a new version of it is swapped in.</summary>
    private static async Task SwapAsync(TestProxy proxy, string build)
    {
        var before = proxy.Runtime.Current.Plugins.Single(p => p.Name == "Versioned").Generation;
        var target = Path.Combine(proxy.PluginsDirectory, "Versioned", "Versioned.dll");
        File.Copy(Path.Combine(TestPaths.TestPlugin(build), "Versioned.dll"), target, overwrite: true);

        // File.Copy keeps the source's write time, and V1 and V2 have the same size; cp and dotnet build write a new time.
        File.SetLastWriteTimeUtc(target, DateTime.UtcNow);
        await proxy.WaitForSnapshotAsync(s => s.Plugins.Any(p => p.Name == "Versioned" && p.Generation != before));
    }

    [Test]
    public async Task With_poll_an_overwritten_plugin_is_swapped_in_and_the_log_says_it_polls()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")], watch: true, "--poll", "--poll-interval", "0.1");
        Assert.That(await AskAsync(proxy), Is.EqualTo("v1"));

        await SwapAsync(proxy, "Versioned.V2");
        Assert.That(await AskAsync(proxy), Is.EqualTo("v2"));
        await SwapAsync(proxy, "Versioned.V1");
        Assert.That(await AskAsync(proxy), Is.EqualTo("v1"));

        Assert.That(proxy.Logs.Lines, Has.Some.Contains($"Polling {proxy.PluginsDirectory} and {proxy.ConfigPath} for changes every 0.1 s"));
        Assert.That(proxy.Logs.Lines, Has.None.Contains("Watching"), "no FileSystemWatcher when polling");
    }

    [Test]
    public async Task With_poll_an_edit_of_plugins_yaml_is_reloaded()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("Versioned", "Versioned.V1")], watch: true, "--poll", "--poll-interval", "0.1");

        await File.WriteAllTextAsync(proxy.ConfigPath, Yaml.Config(new Model("versioned", "Versioned:VersionedLlm"), new Model("added", "Versioned:VersionedLlm")));
        await proxy.WaitForSnapshotAsync(s => s.Models.Any(m => m.Name == "added"));

        Assert.That(await AskAsync(proxy, "added"), Is.EqualTo("v1"));
    }

    [TestCase("PLUGINHOST_USE_POLLING_FILE_WATCHER", "Polling ")]
    [TestCase("DOTNET_USE_POLLING_FILE_WATCHER", "Polling ")]
    [TestCase(null, "Watching ")]
    public async Task The_executable_polls_when_an_environment_variable_says_so(string? variable, string expected)
    {
        var root = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "poll-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        TestProxy.InstallPlugin(Path.Combine(root, "plugins"), "HiHandler", "HiHandler");
        await File.WriteAllTextAsync(Path.Combine(root, "plugins.yaml"), Yaml.Config(new Model("hi", "HiHandler")));
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            ArgumentList = { typeof(PluginHostApplication).Assembly.Location, "--config", Path.Combine(root, "plugins.yaml"), "--host", "127.0.0.1", "--port", "0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment.Remove("DOTNET_USE_POLLING_FILE_WATCHER");
        start.Environment.Remove("PLUGINHOST_USE_POLLING_FILE_WATCHER");
        if (variable is not null)
        {
            start.Environment[variable] = "1";
        }

        using var process = Process.Start(start)!;
        try
        {
            _ = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            string? said = null;
            while (said is null && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                said = line.Contains("Polling ", StringComparison.Ordinal) || line.Contains("Watching ", StringComparison.Ordinal) ? line : null;
            }

            Assert.That(said, Does.Contain(expected));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(exited.Token);
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>A poller on a fresh folder and configuration file, and a task that completes on its first change.</summary>
    private sealed class PolledFolder : IDisposable
    {
        private readonly TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public PolledFolder(Action<string> prepare)
        {
            Directory.CreateDirectory(Plugins);
            File.WriteAllText(Config, "model_list: []\n");
            prepare(Plugins);
            Poller = new ChangePoller(Plugins, Config, TimeSpan.FromMilliseconds(20), () => _changed.TrySetResult(), ex => _changed.TrySetException(ex));
        }

        public string Root { get; } = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "poller-" + Guid.NewGuid().ToString("N")[..8]);

        public string Plugins => Path.Combine(Root, "plugins");

        public string Config => Path.Combine(Root, "plugins.yaml");

        public ChangePoller Poller { get; }

        public Task Changed => _changed.Task;

        public void Dispose()
        {
            Poller.Dispose();
            Directory.Delete(Root, recursive: true);
        }
    }

    private static readonly DateTime Then = new(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static void Write(string path, string text, DateTime lastWrite)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, lastWrite);
    }

    [Test]
    public async Task The_poller_sees_a_new_file_in_a_subfolder()
    {
        using var folder = new PolledFolder(_ => { });

        Write(Path.Combine(folder.Plugins, "Echo", "Echo.dll"), "x", Then);

        await folder.Changed.WaitAsync(Bound);
    }

    [Test]
    public async Task The_poller_sees_a_rewrite_of_the_same_size_with_a_new_write_time()
    {
        var dll = string.Empty;
        using var folder = new PolledFolder(plugins => Write(dll = Path.Combine(plugins, "A.dll"), "aaaa", Then));

        Write(dll, "bbbb", Then.AddSeconds(1));

        await folder.Changed.WaitAsync(Bound);
    }

    [Test]
    public async Task The_poller_sees_a_file_removed()
    {
        var dll = string.Empty;
        using var folder = new PolledFolder(plugins => Write(dll = Path.Combine(plugins, "Deep", "Deeper", "A.dll"), "a", Then));

        File.Delete(dll);

        await folder.Changed.WaitAsync(Bound);
    }

    [Test]
    public async Task The_poller_sees_the_configuration_file_change()
    {
        using var folder = new PolledFolder(_ => { });

        await File.AppendAllTextAsync(folder.Config, "# edited, one byte longer or more\n");

        await folder.Changed.WaitAsync(Bound);
    }

    [Test]
    public async Task The_poller_sees_the_plugins_folder_removed()
    {
        using var folder = new PolledFolder(plugins => Write(Path.Combine(plugins, "A.dll"), "a", Then));

        Directory.Delete(folder.Plugins, recursive: true);

        await folder.Changed.WaitAsync(Bound);
    }

    [Test]
    public async Task The_poller_stays_quiet_while_nothing_changes()
    {
        using var folder = new PolledFolder(plugins =>
        {
            foreach (var name in new[] { "b.dll", "a.dll", "C/c.dll", "C/d.deps.json", ".hidden" })
            {
                Write(Path.Combine(plugins, name), name, Then);
            }
        });

        await Wait.UntilAsync(() => folder.Poller.Scans >= 10, "ten scans", Bound);

        Assert.That(folder.Changed.IsCompleted, Is.False);
    }
}
