using Microsoft.Playwright;

namespace PluginHost.Tests.Infrastructure;

/// <summary>
/// Debian's chromium, driven by Playwright for .NET through <c>ExecutablePath</c> (Playwright's own browser
/// downloads are never used). Without it, a browser test is reported as skipped with how to install it, unless
/// <c>PLUGINHOST_REQUIRE_BROWSER=1</c> (as <c>.ci/run</c> sets), where its absence fails the test.
/// <c>PLUGINHOST_CHROMIUM</c> names another chromium binary (say <c>/usr/bin/chromium-browser</c>).
/// </summary>
internal sealed class Chromium : IAsyncDisposable
{
    public static readonly string ExecutablePath = Environment.GetEnvironmentVariable("PLUGINHOST_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    private Chromium(IPlaywright playwright, IBrowser browser)
    {
        Playwright = playwright;
        Browser = browser;
    }

    public IPlaywright Playwright { get; }

    public IBrowser Browser { get; }

    /// <summary>Launches headless chromium, or ends the test (skipped, or failed when the browser is required).</summary>
    public static async Task<Chromium> LaunchAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            const string Install = "apt-get install -y chromium";
            if (Environment.GetEnvironmentVariable("PLUGINHOST_REQUIRE_BROWSER") == "1")
            {
                Assert.Fail($"chromium not installed ({ExecutablePath}) and PLUGINHOST_REQUIRE_BROWSER=1: {Install}");
            }

            Assert.Ignore($"chromium not installed: {Install}");
        }

        var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ExecutablePath,
                Headless = true,
                // A container has a small /dev/shm; chromium's renderer would crash on it.
                Args = ["--disable-dev-shm-usage"],
            });
            return new Chromium(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
    }
}
