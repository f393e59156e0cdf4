using PluginHost.Configuration;

namespace PluginHost.Routing;

/// <summary>
/// What the router does with a failed attempt, by the error's class (LiteLLM's exception classes, read from the
/// status and OpenAI's error code): retry it, count it toward a cooldown, fall back to another group.
/// </summary>
internal static class ErrorClasses
{
    public static ErrorClass Of(int status, string? code) => (status, code) switch
    {
        (_, "context_length_exceeded") => ErrorClass.ContextWindowExceeded,
        (_, "content_policy_violation") => ErrorClass.ContentPolicyViolation,
        (429, _) => ErrorClass.RateLimit,
        (408, _) => ErrorClass.Timeout,
        (401, _) => ErrorClass.Authentication,
        (403, _) => ErrorClass.PermissionDenied,
        (404, _) => ErrorClass.NotFound,
        ( >= 500, _) => ErrorClass.InternalServer,
        _ => ErrorClass.BadRequest,
    };

    /// <summary>Retries within the group: 429, timeouts and 5xx (a broken connection is a 5xx), unless <c>retry_policy</c> says otherwise.</summary>
    public static int Retries(ErrorClass error, RouterSettings settings, int numRetries) =>
        settings.RetryPolicy.TryGetValue(error, out var retries) ? retries
        : error is ErrorClass.RateLimit or ErrorClass.Timeout or ErrorClass.InternalServer ? numRetries
        : 0;

    /// <summary>
    /// Failures that say the deployment itself is in trouble count toward its cooldown (a client's bad request
    /// does not); with <c>allowed_fails_policy</c> a class the policy names counts too.
    /// </summary>
    public static int? AllowedFails(ErrorClass error, RouterSettings settings) =>
        settings.AllowedFailsPolicy.TryGetValue(error, out var allowed) ? allowed
        : error is ErrorClass.RateLimit or ErrorClass.Timeout or ErrorClass.InternalServer or ErrorClass.Authentication or ErrorClass.NotFound ? settings.AllowedFails
        : null;

    /// <summary>
    /// The groups to fall back to: <c>context_window_fallbacks</c> and <c>content_policy_fallbacks</c> for their
    /// errors (else <c>fallbacks</c>), <c>fallbacks</c> for every other error but a bad request.
    /// </summary>
    public static IReadOnlyList<string> Fallbacks(ErrorClass error, string group, RouterSettings settings)
    {
        var specific = error switch
        {
            ErrorClass.ContextWindowExceeded => settings.ContextWindowFallbacks,
            ErrorClass.ContentPolicyViolation => settings.ContentPolicyFallbacks,
            _ => null,
        };

        if (specific is not null && specific.TryGetValue(group, out var groups))
        {
            return groups;
        }

        return error is not ErrorClass.BadRequest && settings.Fallbacks.TryGetValue(group, out var generic) ? generic : [];
    }
}
