using System.Net;
using System.Text.Json;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// <c>GET /ui</c> and <c>GET /ui/stats</c> over HTTP: the page loads without the key, the history behind it does
/// not, and counts what clients sent but not the status page's own polling. What the page shows is checked in a
/// real browser by <see cref="StatusPageBrowserTests"/>.
/// </summary>
public sealed class StatusPageTests
{
    [Test]
    public async Task The_page_loads_without_the_key_as_one_self_contained_document()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("hi", "HiHandler")), "HiHandler");
        using var anonymous = new HttpClient { BaseAddress = proxy.BaseAddress };

        using var response = await anonymous.GetAsync("/ui");
        var html = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.ToString(), Is.EqualTo("text/html; charset=utf-8"));
        Assert.That(html, Does.StartWith("<!doctype html>").And.Contain("PluginHost"));
        Assert.That(html, Does.Not.Contain("src=\"http").And.Not.Contain("href=\"http").And.Not.Contain("<script src"), "nothing from elsewhere");
        var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.That(csp, Does.Contain("default-src 'none'").And.Contain("script-src 'sha256-").And.Contain("connect-src 'self'").And.Not.Contain("unsafe-inline"));
        Assert.That(response.Headers.CacheControl?.NoStore, Is.True);
    }

    [TestCase("/ui/stats")]
    [TestCase("/plugins")]
    [TestCase("/router")]
    public async Task What_the_page_reads_needs_the_key(string path)
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("hi", "HiHandler")), "HiHandler");
        using var anonymous = new HttpClient { BaseAddress = proxy.BaseAddress };

        using var response = await anonymous.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task Stats_count_client_requests_and_errors_but_not_status_polling()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("hi", "HiHandler")), "HiHandler");
        for (var i = 0; i < 5; i++)
        {
            using var ok = await proxy.PostAsync("/v1/chat/completions", """{"model":"hi","messages":[{"role":"user","content":"hello"}]}""");
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using var unknown = await proxy.PostAsync("/v1/chat/completions", """{"model":"nope","messages":[{"role":"user","content":"hello"}]}""");
        using var missing = await proxy.Http.GetAsync("/no-such-route");
        foreach (var path in new[] { "/plugins", "/router", "/health/readiness", "/health/liveliness", "/ui", "/ui/stats" })
        {
            using var status = await proxy.Http.GetAsync(path);
            Assert.That(status.StatusCode, Is.EqualTo(HttpStatusCode.OK), path);
        }

        // Each request is counted when it ends, after its client may have the answer: wait for the last one.
        await Wait.UntilAsync(() => proxy.Logs.Access.Any(e => e.Path == "/ui/stats"), "the stats request to end");
        using var stats = JsonDocument.Parse(await proxy.Http.GetStringAsync("/ui/stats"));

        var buckets = stats.RootElement.GetProperty("buckets").EnumerateArray().ToList();
        Assert.That(stats.RootElement.GetProperty("bucket_seconds").GetInt32(), Is.EqualTo(10));
        Assert.That(buckets, Has.Count.EqualTo(90));
        Assert.That(buckets.Sum(b => b.GetProperty("requests").GetInt32()), Is.EqualTo(7), "5 answered, 1 unknown model, 1 unknown route");
        Assert.That(buckets.Sum(b => b.GetProperty("errors").GetInt32()), Is.EqualTo(2));
        Assert.That(buckets.Sum(b => b.GetProperty("server_errors").GetInt32()), Is.Zero);
        var latest = buckets.Last(b => b.GetProperty("requests").GetInt32() > 0);
        Assert.That(latest.GetProperty("p50_ms").GetDouble(), Is.GreaterThan(0));
        Assert.That(latest.GetProperty("p99_ms").GetDouble(), Is.GreaterThanOrEqualTo(latest.GetProperty("p50_ms").GetDouble()));
    }
}
