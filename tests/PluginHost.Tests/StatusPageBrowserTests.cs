using Microsoft.Playwright;
using PluginHost.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace PluginHost.Tests;

/// <summary>
/// The status page (<c>GET /ui</c>) in a real headless browser (Debian's chromium through Playwright): it asks for
/// the key, shows models and plugins, follows a plugin swap as it happens, refuses a wrong key visibly, and draws
/// its charts from real traffic. Skipped, saying how to install it, where chromium is missing.
/// </summary>
public sealed class StatusPageBrowserTests
{
    private static readonly string VersionedConfig = Yaml.Config(
        new Model("hi", "HiHandler"),
        new Model("versioned-slow", "Versioned:VersionedLlm", ("delay_ms", "150")));

    private Chromium _chromium = null!;
    private IBrowserContext _context = null!;
    private IPage _page = null!;

    [OneTimeSetUp]
    public async Task LaunchBrowser()
    {
        _chromium = await Chromium.LaunchAsync();
        SetDefaultExpectTimeout(20_000);
    }

    [OneTimeTearDown]
    public async Task CloseBrowser()
    {
        if (_chromium is not null)
        {
            await _chromium.DisposeAsync();
        }
    }

    [SetUp]
    public async Task OpenTab()
    {
        // A context per test: its own sessionStorage, so no test starts with another's key.
        _context = await _chromium.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        _page = await _context.NewPageAsync();
    }

    [TearDown]
    public async Task CloseTab()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            // What the page showed when the test failed, attached to the result.
            var screenshot = Path.Combine(Path.GetTempPath(), $"pluginhost-ui-{TestContext.CurrentContext.Test.MethodName}-{Guid.NewGuid():N}.png");
            await _page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
            TestContext.AddTestAttachment(screenshot, "the status page when the test failed");
        }

        await _context.DisposeAsync();
    }

    /// <summary>Opens the page refreshing every half second (the default is 2 s) and enters <paramref name="key"/>.</summary>
    private async Task OpenAsync(TestProxy proxy, string key = TestProxy.MasterKey)
    {
        await _page.GotoAsync(new Uri(proxy.BaseAddress, "ui?every=0.5").ToString());
        await Expect(_page.GetByTestId("key")).ToBeVisibleAsync();
        await _page.GetByTestId("key").FillAsync(key);
        await _page.GetByTestId("open").ClickAsync();
    }

    private ILocator Plugin(string table, string name, long generation) =>
        _page.Locator($"#{table} tr[data-plugin='{name}'][data-generation='{generation}']");

    [Test]
    public async Task The_page_asks_for_the_key_then_shows_models_and_plugins_and_keeps_the_key_for_the_tab()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("HiHandler", "HiHandler"), ("Versioned", "Versioned.V1")]);
        var hi = proxy.Runtime.Current.Plugins.Single(p => p.Name == "HiHandler");

        await _page.GotoAsync(new Uri(proxy.BaseAddress, "ui").ToString());
        await Expect(_page.GetByTestId("key")).ToBeVisibleAsync();
        await Expect(_page.GetByTestId("models")).Not.ToBeVisibleAsync();
        await _page.GetByTestId("key").FillAsync(TestProxy.MasterKey);
        await _page.GetByTestId("open").ClickAsync();

        var hiModel = _page.Locator("[data-model='hi']");
        await Expect(hiModel).ToContainTextAsync("p0/hi-upstream");
        await Expect(hiModel.Locator("tr[data-deployment] .state")).ToHaveTextAsync("healthy");
        await Expect(_page.Locator("[data-model='versioned-slow']")).ToContainTextAsync("Versioned:VersionedLlm");
        var row = Plugin("plugins", "HiHandler", hi.Generation);
        await Expect(row.Locator(".state")).ToHaveTextAsync("active");
        await Expect(row.Locator(".version")).ToHaveTextAsync(hi.Version!);
        await Expect(row).ToContainTextAsync(hi.ContentHash[..12]);
        await Expect(_page.GetByTestId("health")).ToHaveTextAsync("healthy");
        await Expect(_page.GetByTestId("key-error")).Not.ToBeVisibleAsync();

        // The key is kept for the tab: a reload does not ask again.
        Assert.That(await _page.EvaluateAsync<string>("sessionStorage.getItem('pluginhost.master_key')"), Is.EqualTo(TestProxy.MasterKey));
        await _page.ReloadAsync();
        await Expect(row.Locator(".state")).ToHaveTextAsync("active");
        await Expect(_page.GetByTestId("key")).Not.ToBeVisibleAsync();
    }

    [Test]
    public async Task An_unmapped_plugin_and_a_refused_one_show_with_their_state_handlers_and_reason()
    {
        // Versioned is mapped but its hash is not the one allowed; Marked is in the folder but mapped by nothing.
        var allowed = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(TestPaths.SamplePlugin("HiHandler"), "HiHandler.dll"))));
        await using var proxy = await TestProxy.StartAsync(
            VersionedConfig + $"  allowed_plugin_sha256:\n    - {allowed}\n",
            [("HiHandler", "HiHandler"), ("Versioned", "Versioned.V1"), ("Marked", "Marked")]);
        var refusedHash = proxy.Runtime.Current.Available.Single(p => p.Name == "Versioned").Sha256;

        await OpenAsync(proxy);

        var marked = _page.Locator("#plugins tr[data-plugin='Marked']");
        await Expect(marked.Locator(".state")).ToHaveTextAsync("unmapped");
        await Expect(marked).ToContainTextAsync("Marked.MarkedLlm, Marked.OtherMarkedLlm");
        var versioned = _page.Locator("#plugins tr[data-plugin='Versioned']");
        await Expect(versioned.Locator(".state")).ToHaveTextAsync("refused");
        await Expect(versioned.Locator(".last-error")).ToContainTextAsync(refusedHash);
        await Expect(versioned).ToContainTextAsync(refusedHash[..12]);
        await Expect(Plugin("plugins", "HiHandler", proxy.Runtime.Current.Plugins.Single(p => p.Name == "HiHandler").Generation).Locator(".state")).ToHaveTextAsync("active");
        await Expect(_page.GetByTestId("health")).ToHaveTextAsync("degraded");
    }

    [Test]
    public async Task A_wrong_key_shows_the_proxys_refusal_and_asks_again()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("HiHandler", "HiHandler"), ("Versioned", "Versioned.V1")]);

        await OpenAsync(proxy, "sk-wrong");

        await Expect(_page.GetByTestId("key-error")).ToBeVisibleAsync();
        await Expect(_page.GetByTestId("key-error")).ToContainTextAsync("The proxy refused the key: Incorrect API key provided");
        await Expect(_page.GetByTestId("key")).ToBeVisibleAsync();
        await Expect(_page.GetByTestId("models")).Not.ToBeVisibleAsync();
        Assert.That(await _page.EvaluateAsync<string?>("sessionStorage.getItem('pluginhost.master_key')"), Is.Null, "a refused key is not kept");

        // The right key then opens the page.
        await _page.GetByTestId("key").FillAsync(TestProxy.MasterKey);
        await _page.GetByTestId("open").ClickAsync();
        await Expect(_page.Locator("[data-model='hi']")).ToBeVisibleAsync();
        await Expect(_page.GetByTestId("key-error")).Not.ToBeVisibleAsync();
    }

    [Test]
    public async Task A_plugin_swap_shows_the_new_generation_active_and_the_old_one_draining_then_unloaded()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("HiHandler", "HiHandler"), ("Versioned", "Versioned.V1")], watch: true);
        var v1 = proxy.Runtime.Current.Plugins.Single(p => p.Name == "Versioned");
        await OpenAsync(proxy);
        await Expect(Plugin("plugins", "Versioned", v1.Generation).Locator(".state")).ToHaveTextAsync("active");
        await Expect(_page.Locator("#retired tr[data-plugin]")).ToHaveCountAsync(0);

        // A stream running on v1 keeps it draining after the swap, long enough to be seen.
        var stream = await proxy.PostAsync("/v1/chat/completions", """{"model":"versioned-slow","stream":true,"messages":[{"role":"user","content":"200"}]}""", completion: HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.That(await reader.ReadLineAsync(), Does.Contain("v1-0"));

        File.Copy(Path.Combine(TestPaths.TestPlugin("Versioned.V2"), "Versioned.dll"), Path.Combine(proxy.PluginsDirectory, "Versioned", "Versioned.dll"), overwrite: true);
        var v2 = (await proxy.WaitForSnapshotAsync(s => s.Plugins.Any(p => p.Name == "Versioned" && p.Generation != v1.Generation))).Plugins.Single(p => p.Name == "Versioned");

        await Expect(Plugin("plugins", "Versioned", v2.Generation).Locator(".state")).ToHaveTextAsync("active");
        await Expect(Plugin("plugins", "Versioned", v2.Generation)).ToContainTextAsync(v2.ContentHash[..12]);
        await Expect(Plugin("plugins", "Versioned", v1.Generation)).ToHaveCountAsync(0);
        var retired = Plugin("retired", "Versioned", v1.Generation);
        await Expect(retired.Locator(".state")).ToHaveTextAsync("draining");
        await Expect(retired.Locator(".in-flight")).ToHaveTextAsync("1");

        // The client leaves: v1 has nothing left to run, unloads, and the collector confirms it.
        reader.Dispose();
        stream.Dispose();
        await Expect(retired.Locator(".state")).ToHaveTextAsync("unloaded", new LocatorAssertionsToHaveTextOptions { Timeout = 60_000 });
        await Expect(retired.Locator(".in-flight")).ToHaveTextAsync("0");
        await Expect(Plugin("plugins", "Versioned", v2.Generation).Locator(".state")).ToHaveTextAsync("active");
    }

    [Test]
    public async Task The_charts_show_request_rate_errors_and_latency_after_some_requests()
    {
        await using var proxy = await TestProxy.StartAsync(VersionedConfig, [("HiHandler", "HiHandler"), ("Versioned", "Versioned.V1")]);
        await OpenAsync(proxy);
        await Expect(_page.Locator("[data-model='hi']")).ToBeVisibleAsync();
        await Expect(_page.GetByTestId("chart-requests")).ToHaveAttributeAsync("data-total", "0");
        await Expect(_page.GetByTestId("now-latency")).ToHaveTextAsync("–");

        for (var i = 0; i < 20; i++)
        {
            using var ok = await proxy.PostAsync("/v1/chat/completions", """{"model":"hi","messages":[{"role":"user","content":"hello"}]}""");
        }

        for (var i = 0; i < 5; i++)
        {
            using var unknown = await proxy.PostAsync("/v1/chat/completions", """{"model":"nope","messages":[{"role":"user","content":"hello"}]}""");
        }

        await Expect(_page.GetByTestId("chart-requests")).ToHaveAttributeAsync("data-total", "25");
        await Expect(_page.GetByTestId("chart-errors")).ToHaveAttributeAsync("data-total", "5");
        await Expect(_page.GetByTestId("chart-requests").Locator("polyline")).Not.ToHaveCountAsync(0);
        await Expect(_page.GetByTestId("chart-errors").Locator("polyline.s2")).Not.ToHaveCountAsync(0);
        // p50 and p99: a line, or a dot for a bucket alone (these requests may all fall in one 10 s bucket).
        await Expect(_page.GetByTestId("chart-latency").Locator("polyline.s1, circle.s1")).Not.ToHaveCountAsync(0);
        await Expect(_page.GetByTestId("chart-latency").Locator("polyline.s2, circle.s2")).Not.ToHaveCountAsync(0);
        await Expect(_page.GetByTestId("now-requests")).Not.ToHaveTextAsync("0 /s");
        await Expect(_page.GetByTestId("now-errors")).ToHaveTextAsync("20.0 %");
        await Expect(_page.GetByTestId("now-latency")).ToContainTextAsync("p50 ");
    }

    [Test]
    public async Task Without_a_master_key_the_page_opens_without_asking()
    {
        var open = Yaml.Config(new Model("hi", "HiHandler")).Replace($"general_settings:\n  master_key: {TestProxy.MasterKey}\n", "", StringComparison.Ordinal);
        await using var proxy = await TestProxy.StartAsync(open, "HiHandler");

        await _page.GotoAsync(new Uri(proxy.BaseAddress, "ui").ToString());

        await Expect(_page.Locator("[data-model='hi']")).ToBeVisibleAsync();
        await Expect(_page.GetByTestId("key")).Not.ToBeVisibleAsync();
    }
}
