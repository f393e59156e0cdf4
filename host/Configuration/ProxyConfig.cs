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

    public long MaxRequestBytes => (long)(MaxRequestSizeMb * 1024 * 1024);
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

    /// <summary><c>litellm_params.api_base</c>.</summary>
    public string? ApiBase { get; init; }

    /// <summary><c>litellm_params.api_key</c>.</summary>
    public string? ApiKey { get; init; }

    /// <summary><c>litellm_params.timeout</c>.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Every other <c>litellm_params</c> key.</summary>
    public required IReadOnlyDictionary<string, object?> ExtraParams { get; init; }

    /// <summary><c>model_info.mode</c> (chat, embedding, image_generation…), if given.</summary>
    public string? Mode { get; init; }

    /// <summary>Where in the file the entry is (for messages).</summary>
    public required string Location { get; init; }
}

/// <summary>One <c>custom_provider_map</c> entry.</summary>
/// <param name="Provider">The provider prefix used in <c>litellm_params.model</c>.</param>
/// <param name="Handler">Which handler serves it.</param>
/// <param name="Location">Where in the file the entry is.</param>
internal sealed record ProviderMapping(string Provider, HandlerName Handler, string Location);

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
