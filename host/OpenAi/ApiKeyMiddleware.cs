using System.Security.Cryptography;
using System.Text;
using PluginHost.Configuration;
using PluginHost.Routing;
using PluginHost.Telemetry;

namespace PluginHost.OpenAi;

/// <summary>
/// With a <c>master_key</c>, every route but the liveness and readiness probes, the status page itself
/// (<c>GET /ui</c>, which asks for the key and sends it with what it reads) and <c>/metrics</c> when
/// <c>general_settings.metrics_require_key</c> is false needs <c>Authorization: Bearer &lt;key&gt;</c> (or, on a
/// route whose <see cref="ApiShape"/> names one, the key in its own header: Anthropic's <c>x-api-key</c>),
/// compared in constant time. The key comes from the current snapshot, so a configuration reload can change it.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, ProxyRuntime runtime)
{
    private MasterKeyHash? _key;

    public Task InvokeAsync(HttpContext context)
    {
        var config = runtime.Current.Config;
        var key = config.MasterKey;
        var headers = context.Request.Headers;
        var keyHeader = key is null ? null : ApiShape.Of(context).KeyHeader;
        if (key is null || IsOpen(context.Request.Path, config) || IsAuthorized(headers.Authorization.ToString(), HashOf(key))
            || (keyHeader is not null && headers[keyHeader].Count == 1 && Matches(headers[keyHeader].ToString(), HashOf(key))))
        {
            return next(context);
        }

        var message = headers.Authorization.Count == 0 && (keyHeader is null || headers[keyHeader].Count == 0)
            ? keyHeader is null
                ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                : $"You didn't provide an API key. You need to provide your API key in an {keyHeader} header or an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            : "Incorrect API key provided. Use the proxy's master_key (general_settings.master_key in its configuration).";
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return ErrorWriter.WriteAsync(context, new OpenAiException(401, message, code: "invalid_api_key", type: "invalid_request_error"));
    }

    private static bool IsOpen(PathString path, ProxyConfig config) =>
        path.Equals("/health/liveliness", StringComparison.Ordinal) || path.Equals("/health/readiness", StringComparison.Ordinal)
        || path.Equals("/health/liveness", StringComparison.Ordinal)
        || path.Equals("/ui", StringComparison.Ordinal) || path.Equals("/ui/", StringComparison.Ordinal)
        || (!config.MetricsRequireKey && path.Equals(TelemetrySetup.MetricsPath, StringComparison.Ordinal));

    /// <summary>The key's hash, computed once per key (a reload may change the key).</summary>
    private byte[] HashOf(string key)
    {
        var cached = Volatile.Read(ref _key);
        if (cached is null || !ReferenceEquals(cached.Key, key))
        {
            cached = new MasterKeyHash(key, SHA256.HashData(Encoding.UTF8.GetBytes(key)));
            Volatile.Write(ref _key, cached);
        }

        return cached.Hash;
    }

    private static bool IsAuthorized(string header, byte[] expected)
    {
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return Matches(header.AsSpan(Scheme.Length), expected);
    }

    private static bool Matches(ReadOnlySpan<char> key, byte[] expected)
    {
        // Hash the given key so the comparison takes the same time whatever its length.
        var token = key.Trim();
        Span<byte> utf8 = token.Length <= 256 ? stackalloc byte[token.Length * 3] : new byte[Encoding.UTF8.GetMaxByteCount(token.Length)];
        var length = Encoding.UTF8.GetBytes(token, utf8);
        Span<byte> given = stackalloc byte[32];
        SHA256.HashData(utf8[..length], given);
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    private sealed record MasterKeyHash(string Key, byte[] Hash);
}
