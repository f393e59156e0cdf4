using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using PluginHost.OpenAi;
using PluginHost.Telemetry;

namespace PluginHost.StatusPage;

/// <summary>
/// <c>GET /ui</c>, the status page: one self-contained HTML file embedded in the host (no CDN, no build step),
/// served without the key, which the page asks for and sends to the JSON endpoints it reads (<c>/plugins</c>,
/// <c>/router</c>, <c>/health/readiness</c> and <c>GET /ui/stats</c>, the request history for its charts).
/// </summary>
internal static partial class StatusPageEndpoints
{
    private static readonly Lazy<Page> Html = new(Page.Load);

    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder app)
    {
        app.MapGet("/ui", ServePage).WithMetadata(RequestHistory.NotCounted.Instance);
        var history = app.ServiceProvider.GetRequiredService<RequestHistory>();
        app.MapGet("/ui/stats", OpenAiApi.Answer(_ => Results.Json(history.Read(), WireJsonContext.Wire.HistoryBody)))
            .WithMetadata(RequestHistory.NotCounted.Instance);
        return app;
    }

    private static Task ServePage(HttpContext context)
    {
        var page = Html.Value;
        var response = context.Response;
        response.ContentType = "text/html; charset=utf-8";
        response.ContentLength = page.Bytes.Length;
        var headers = response.Headers;
        headers.CacheControl = "no-store";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.XFrameOptions = "DENY";
        headers.ContentSecurityPolicy = page.ContentSecurityPolicy;
        return response.Body.WriteAsync(page.Bytes, context.RequestAborted).AsTask();
    }

    /// <summary>
    /// The page and its Content-Security-Policy: nothing but its own inline script and style (allowed by their
    /// hashes, computed here from the embedded file) and requests to this origin.
    /// </summary>
    private sealed record Page(byte[] Bytes, string ContentSecurityPolicy)
    {
        public static Page Load()
        {
            using var stream = typeof(StatusPageEndpoints).Assembly.GetManifestResourceStream("PluginHost.StatusPage.status-page.html")
                ?? throw new InvalidOperationException("The status page is not embedded in the host assembly.");
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var html = reader.ReadToEnd();
            var csp = $"default-src 'none'; script-src {HashOf(ScriptBlock(), html)}; style-src {HashOf(StyleBlock(), html)}; " +
                "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
            return new Page(Encoding.UTF8.GetBytes(html), csp);
        }

        private static string HashOf(Regex block, string html)
        {
            var match = block.Match(html);
            return match.Success
                ? $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(match.Groups[1].Value)))}'"
                : throw new InvalidOperationException($"The status page has no {block} block.");
        }
    }

    [GeneratedRegex("<script>(.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex ScriptBlock();

    [GeneratedRegex("<style>(.*?)</style>", RegexOptions.Singleline)]
    private static partial Regex StyleBlock();
}
