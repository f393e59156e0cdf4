using PluginHost.Sdk;

namespace PluginHost.Telemetry;

/// <summary>
/// What the request pipeline learned about one request, filled in as it goes and read when the request ends by
/// whatever reports on requests (the access log, metrics, the status page). It lives in the request's
/// features (<c>HttpContext.Features.Get&lt;RequestRecord&gt;()</c>); requests that are not handler calls have none.
/// </summary>
internal sealed class RequestRecord
{
    /// <summary>The operation: <c>chat</c>, <c>text_completion</c>, <c>embeddings</c>, <c>image_generation</c>, <c>image_edit</c>, <c>rerank</c>.</summary>
    public required string Operation { get; init; }

    /// <summary>The model name the client asked for, once the body was read.</summary>
    public string? RequestedModel { get; set; }

    /// <summary>Whether the client asked for a stream.</summary>
    public bool Stream { get; set; }

    /// <summary>The model group of the last attempt (differs from <see cref="RequestedModel"/> after a fallback or through an alias).</summary>
    public string? ModelGroup { get; set; }

    /// <summary>The deployment of the last attempt (<c>model_info.id</c> or its hash).</summary>
    public string? Deployment { get; set; }

    /// <summary>The provider's model of the last attempt (OpenTelemetry's response model).</summary>
    public string? ProviderModel { get; set; }

    /// <summary>The handler of the last attempt (<c>Assembly:Type</c>).</summary>
    public string? Handler { get; set; }

    /// <summary>The plugin of the last attempt and the generation of its loaded version.</summary>
    public string? Plugin { get; set; }

    public long? PluginGeneration { get; set; }

    /// <summary>Attempts after the first within a group, and fallback groups moved to.</summary>
    public int Retries { get; set; }

    public int Fallbacks { get; set; }

    /// <summary>For a stream, the time from the request's start to its first chunk.</summary>
    public TimeSpan? TimeToFirstChunk { get; set; }

    /// <summary>The tokens the answer reported.</summary>
    public Usage? Usage { get; set; }

    /// <summary>The class of the error the client got (<c>RateLimit</c>, <c>Timeout</c>, …), null on success.</summary>
    public string? ErrorType { get; set; }

    /// <summary>When the pipeline started (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    public long Started { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
}
