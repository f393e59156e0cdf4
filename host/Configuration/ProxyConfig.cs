using PluginHost.Sdk;

namespace PluginHost.Configuration;

/// <summary>The proxy's configuration as read from <c>plugins.yaml</c>: LiteLLM's keys and meaning.</summary>
internal sealed record ProxyConfig
{
    /// <summary>The file it was read from (for messages).</summary>
    public required string SourceFile { get; init; }

    /// <summary>A hash of the file's text: a reload only re-validates the configuration when it changed.</summary>
    public string ContentHash { get; init; } = "";

    /// <summary><c>model_list</c>: public model names and the deployments behind them.</summary>
    public required IReadOnlyList<ModelDeployment> Models { get; init; }

    /// <summary><c>litellm_settings.custom_provider_map</c>.</summary>
    public required IReadOnlyList<ProviderMapping> Providers { get; init; }

    /// <summary><c>general_settings.master_key</c>; null means no auth.</summary>
    public string? MasterKey { get; init; }

    /// <summary><c>general_settings.max_request_size_mb</c>.</summary>
    public double MaxRequestSizeMb { get; init; } = 32;

    /// <summary>
    /// <c>general_settings.require_handlers</c>: when true, a handler that fails to load at startup fails the
    /// startup; by default only its own models fail (503) and readiness says which.
    /// </summary>
    public bool RequireHandlers { get; init; }

    /// <summary>
    /// <c>general_settings.metrics_require_key</c>: whether <c>GET /metrics</c> needs the master key, as every other
    /// route but the health probes does (true by default; false lets a Prometheus without the key scrape it).
    /// </summary>
    public bool MetricsRequireKey { get; init; } = true;

    /// <summary><c>router_settings</c>: choosing, retrying, cooling down and falling back between deployments.</summary>
    public RouterSettings Router { get; init; } = new();

    /// <summary>Bounds on what one request may ask a handler to produce (<c>general_settings.max_…</c>).</summary>
    public RequestLimits Limits { get; init; } = new();

    /// <summary>
    /// <c>general_settings.responses_store_size</c>: how many recent Responses API answers this instance keeps for
    /// <c>previous_response_id</c> and <c>GET /v1/responses/{id}</c> (the oldest go first; 0 keeps none).
    /// </summary>
    public int ResponsesStoreSize { get; init; } = DefaultResponsesStoreSize;

    public const int DefaultResponsesStoreSize = 1000;

    /// <summary>
    /// <c>general_settings.allowed_plugin_sha256</c> and <c>general_settings.trusted_plugin_keys</c>: which plugin
    /// assemblies may run (<see cref="PluginTrust.None"/>: every mapped one).
    /// </summary>
    public PluginTrust Trust { get; init; } = PluginTrust.None;

    public long MaxRequestBytes => (long)(MaxRequestSizeMb * 1024 * 1024);
}

/// <summary>
/// How much work one request may ask for, checked before its handler runs, so no request makes the proxy or a
/// handler allocate without bound (a 400 names the limit and its <c>general_settings</c> key). The defaults
/// are OpenAI's own limits where it has one, and generous bounds where it does not.
/// </summary>
internal sealed record RequestLimits
{
    /// <summary><c>general_settings.max_embedding_inputs</c>: items of an embeddings <c>input</c> (OpenAI: 2048).</summary>
    public int MaxEmbeddingInputs { get; init; } = 2048;

    /// <summary><c>general_settings.max_embedding_dimensions</c>: an embeddings request's <c>dimensions</c> (OpenAI's largest model: 3072).</summary>
    public int MaxEmbeddingDimensions { get; init; } = 8192;

    /// <summary><c>general_settings.max_rerank_documents</c>: a rerank request's <c>documents</c>.</summary>
    public int MaxRerankDocuments { get; init; } = 10_000;

    /// <summary><c>general_settings.max_completion_prompts</c>: prompts of one legacy <c>/completions</c> request.</summary>
    public int MaxCompletionPrompts { get; init; } = 2048;

    /// <summary><c>general_settings.max_images_per_request</c>: an image request's <c>n</c> (OpenAI: 10).</summary>
    public int MaxImagesPerRequest { get; init; } = 10;

    /// <summary><c>general_settings.max_image_side_px</c>: the width and the height of an image request's <c>size</c>.</summary>
    public int MaxImageSidePixels { get; init; } = 4096;
}

/// <summary>One <c>model_list</c> entry.</summary>
internal sealed record ModelDeployment
{
    /// <summary><c>model_name</c>: what clients ask for.</summary>
    public required string ModelName { get; init; }

    /// <summary>The provider prefix of <c>litellm_params.model</c> (<c>my-custom-llm</c>).</summary>
    public required string Provider { get; init; }

    /// <summary>The rest of <c>litellm_params.model</c> (<c>my-model</c>).</summary>
    public required string ProviderModel { get; init; }

    /// <summary>
    /// <c>api_base</c>, <c>api_key</c>, <c>timeout</c> and every other <c>litellm_params</c> key, as handlers see
    /// them: built once here, handed to every request this deployment serves.
    /// </summary>
    public required Deployment Settings { get; init; }

    /// <summary><c>model_info.id</c>, else a hash of the entry: names the deployment in headers, status and shared state.</summary>
    public string Id { get; init; } = "";

    /// <summary><c>litellm_params.rpm</c>: requests per minute this deployment may take (across every instance sharing a Redis).</summary>
    public int? Rpm { get; init; }

    /// <summary><c>litellm_params.tpm</c>: tokens per minute this deployment may use.</summary>
    public int? Tpm { get; init; }

    /// <summary><c>litellm_params.stream_timeout</c>: how long a stream may take to its first chunk.</summary>
    public TimeSpan? StreamTimeout { get; init; }

    /// <summary><c>litellm_params.weight</c>: its share of traffic under <c>simple-shuffle</c>.</summary>
    public double? Weight { get; init; }

    /// <summary><c>model_info.mode</c> (chat, embedding, image_generation…), if given.</summary>
    public string? Mode { get; init; }

    /// <summary>Where in the file the entry is (for messages).</summary>
    public required string Location { get; init; }
}

/// <summary>One <c>custom_provider_map</c> entry.</summary>
/// <param name="Provider">The provider prefix used in <c>litellm_params.model</c>.</param>
/// <param name="Handler">Which handler serves it.</param>
/// <param name="Location">Where in the file the entry is.</param>
/// <param name="Worker">With <c>isolation: process</c>, how its worker process runs; null runs the handler in the proxy.</param>
internal sealed record ProviderMapping(string Provider, HandlerName Handler, string Location, WorkerSettings? Worker = null);

/// <summary>
/// <c>isolation: process</c> on a <c>custom_provider_map</c> entry: the handler's assembly runs in a worker process of
/// its own, started and supervised by the proxy, never loaded into the proxy. Every entry naming the same assembly
/// shares one worker, so they must agree on these settings.
/// </summary>
internal sealed record WorkerSettings
{
    /// <summary><c>worker_memory_mb</c>: the worker's GC heap limit (<c>DOTNET_GCHeapHardLimit</c>); null leaves the runtime's default.</summary>
    public int? MemoryMb { get; init; }

    /// <summary>
    /// <c>worker_request_timeout</c>: the longest one call may run in the worker. The call is then cancelled (504), and a
    /// worker whose handler does not stop within a second of that is killed and restarted.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(600);

    /// <summary><c>worker_crash_limit</c>: crashes in a row (no successful call between them) before the circuit opens.</summary>
    public int CrashLimit { get; init; } = 3;

    /// <summary><c>worker_circuit_open</c>: how long an open circuit answers 503 before the worker is tried again.</summary>
    public TimeSpan CircuitOpen { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A <c>custom_handler</c> value: <c>Assembly</c> (its only handler type) or <c>Assembly:Type</c>
/// (full or simple type name) when the assembly holds several.
/// </summary>
internal readonly record struct HandlerName(string Assembly, string? Type)
{
    public static bool TryParse(string value, out HandlerName name)
    {
        var parts = value.Split(':', StringSplitOptions.TrimEntries);
        name = parts switch
        {
            [var assembly] when assembly.Length > 0 => new HandlerName(assembly, null),
            [var assembly, var type] when assembly.Length > 0 && type.Length > 0 => new HandlerName(assembly, type),
            _ => default,
        };
        return name.Assembly is not null;
    }

    public override string ToString() => Type is null ? Assembly : $"{Assembly}:{Type}";
}
