using System.Globalization;
using System.Text.Json;
using PluginHost.Configuration;

namespace PluginHost.OpenAi;

/// <summary>
/// What one request may change of the router's settings, as in LiteLLM: <c>fallbacks</c>, <c>num_retries</c> and
/// <c>timeout</c> in the body, and the headers <c>x-litellm-timeout</c>, <c>x-litellm-stream-timeout</c> and
/// <c>x-litellm-num-retries</c> (a header wins over the body). The body fields also stay in the handler's
/// <c>AdditionalProperties</c>.
/// </summary>
internal readonly record struct RequestOverrides(int? NumRetries, TimeLimit? Timeout, TimeLimit? StreamTimeout, IReadOnlyList<string>? Fallbacks)
{
    public static RequestOverrides Read(HttpRequest request, in RequestInput input)
    {
        int? numRetries = null;
        TimeLimit? timeout = null, streamTimeout = null;
        IReadOnlyList<string>? fallbacks = null;
        if (input.Form is null)
        {
            var root = input.Json;
            if (root.TryGetProperty("num_retries", out var retries))
            {
                numRetries = RequestFields.Integer(retries, "num_retries", 0, 100);
            }

            if (root.TryGetProperty("timeout", out var seconds) && RequestFields.Number(seconds, "timeout", 0.001, 86_400) is { } after)
            {
                timeout = new TimeLimit(TimeSpan.FromSeconds(after), "the request's timeout");
            }

            if (root.TryGetProperty("fallbacks", out var list))
            {
                fallbacks = RequestFields.Strings(list, "fallbacks");
            }
        }

        var headers = request.Headers;
        if (headers.TryGetValue("x-litellm-num-retries", out var retriesHeader))
        {
            numRetries = int.TryParse(retriesHeader, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 100
                ? n
                : throw OpenAiException.BadRequest($"Invalid header x-litellm-num-retries: '{retriesHeader}' is not a whole number from 0 to 100.", "x-litellm-num-retries", "invalid_value");
        }

        timeout = Seconds(headers, "x-litellm-timeout") ?? timeout;
        streamTimeout = Seconds(headers, "x-litellm-stream-timeout");
        return new RequestOverrides(numRetries, timeout, streamTimeout, fallbacks);
    }

    private static TimeLimit? Seconds(IHeaderDictionary headers, string name)
    {
        if (!headers.TryGetValue(name, out var value))
        {
            return null;
        }

        return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0 && seconds <= 86_400
            ? new TimeLimit(TimeSpan.FromSeconds(seconds), name)
            : throw OpenAiException.BadRequest($"Invalid header {name}: '{value}' is not a number of seconds (more than 0, at most 86400).", name, "invalid_value");
    }

    /// <summary>The time one attempt on <paramref name="deployment"/> may take: this request's, else the deployment's, else the router's.</summary>
    public TimeLimit? TotalFor(ModelDeployment deployment, RouterSettings settings) =>
        Timeout
        ?? (deployment.Settings.Timeout is { } own ? new TimeLimit(own, "litellm_params.timeout") : (TimeLimit?)null)
        ?? (settings.Timeout is { } router ? new TimeLimit(router, "router_settings.timeout") : (TimeLimit?)null);

    /// <summary>The time a stream on <paramref name="deployment"/> may take to its first chunk (else its whole timeout).</summary>
    public TimeLimit? FirstChunkFor(ModelDeployment deployment, RouterSettings settings) =>
        StreamTimeout
        ?? (deployment.StreamTimeout is { } own ? new TimeLimit(own, "litellm_params.stream_timeout") : (TimeLimit?)null)
        ?? (settings.StreamTimeout is { } router ? new TimeLimit(router, "router_settings.stream_timeout") : (TimeLimit?)null);
}
