namespace PluginHost.OpenAi;

/// <summary>
/// What a route's API shape decides about the answers the host writes itself: the error body, and which header
/// may carry the API key besides <c>Authorization: Bearer</c>. A route names its shape as endpoint metadata
/// (<c>.WithMetadata(shape)</c>); routes without one, and requests that match no route, are OpenAI's.
/// </summary>
internal abstract class ApiShape
{
    /// <summary>OpenAI's: <c>{"error":{"message","type","param","code"}}</c>, the key only as a bearer token.</summary>
    public static ApiShape OpenAi { get; } = new OpenAiShape();

    /// <summary>A header that may carry the API key instead of <c>Authorization: Bearer</c> (Anthropic's <c>x-api-key</c>), or null.</summary>
    public virtual string? KeyHeader => null;

    /// <summary>The error body for <paramref name="error"/>; its status is sent as the HTTP status.</summary>
    public abstract byte[] ErrorBody(OpenAiException error);

    /// <summary>The shape of the route <paramref name="context"/> matched.</summary>
    public static ApiShape Of(HttpContext context) => context.GetEndpoint()?.Metadata.GetMetadata<ApiShape>() ?? OpenAi;

    private sealed class OpenAiShape : ApiShape
    {
        public override byte[] ErrorBody(OpenAiException error) => ErrorWriter.ToJson(error);
    }
}
