using System.Text.Json;

namespace PluginHost.Sdk;

/// <summary>
/// What every request a handler receives carries, whatever the endpoint: the model it is for, the client's
/// fields the contract does not type, and the settings of the deployment in <c>plugins.yaml</c> that serves it.
/// Each endpoint's request (<see cref="ChatCompletionRequest"/>, <see cref="EmbeddingRequest"/>, …) adds its own fields.
/// </summary>
public abstract record LlmRequest
{
    /// <summary>
    /// The provider's model with the provider prefix stripped: for <c>my-custom-llm/my-model</c> in
    /// <c>litellm_params.model</c>, this is <c>my-model</c>.
    /// </summary>
    public required string Model { get; init; }

    /// <summary>The <c>model_name</c> the client asked for (what the response's <c>model</c> will say).</summary>
    public required string RequestedModel { get; init; }

    /// <summary>
    /// Every request field the contract does not type (e.g. <c>logprobs</c>, <c>metadata</c>, vendor extensions),
    /// exactly as the client sent it. Nothing the client sends is dropped.
    /// </summary>
    public IReadOnlyDictionary<string, JsonElement> AdditionalProperties { get; init; } = EmptyProperties;

    /// <summary>The deployment serving this request, as <c>plugins.yaml</c> configures it (<c>api_base</c>, <c>api_key</c>, <c>timeout</c>, other <c>litellm_params</c>).</summary>
    public Deployment Deployment { get; init; } = Deployment.None;

    internal static readonly IReadOnlyDictionary<string, JsonElement> EmptyProperties = new Dictionary<string, JsonElement>();
}

/// <summary>
/// A deployment's settings from the <c>litellm_params</c> of its <c>model_list</c> entry in <c>plugins.yaml</c>
/// (<c>os.environ/NAME</c> values already resolved). The host builds one per deployment when it loads the
/// configuration and hands the same instance to every request it serves.
/// </summary>
public sealed record Deployment
{
    /// <summary>A deployment with no settings (what a request built by hand, e.g. in a test, carries).</summary>
    public static Deployment None { get; } = new();

    /// <summary><c>api_base</c>, if set.</summary>
    public string? ApiBase { get; init; }

    /// <summary><c>api_key</c>, if set.</summary>
    public string? ApiKey { get; init; }

    /// <summary><c>timeout</c>, if set. The cancellation token a handler receives already enforces it.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// Every other key of <c>litellm_params</c> (strings, numbers, booleans, lists and maps as plain .NET values),
    /// for a handler's own settings.
    /// </summary>
    public IReadOnlyDictionary<string, object?> LitellmParams { get; init; } = EmptyParams;

    internal static readonly IReadOnlyDictionary<string, object?> EmptyParams = new Dictionary<string, object?>();
}
