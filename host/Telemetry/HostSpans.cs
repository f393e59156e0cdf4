using System.Collections.Concurrent;
using System.Diagnostics;
using PluginHost.OpenAi;
using PluginHost.Plugins;
using PluginHost.Routing;

namespace PluginHost.Telemetry;

/// <summary>
/// The spans the host makes itself, from one <see cref="ActivitySource"/> named <c>PluginHost</c>: one per handler
/// attempt (a child of ASP.NET Core's server span; each retry and fallback has its own, and the request's models,
/// deployment and tokens are on them), one per reload and one per plugin version loaded. With no tracer listening, <see cref="ActivitySource.StartActivity(string, ActivityKind)"/>
/// returns null and nothing is allocated: every method here takes a null span and then does nothing.
/// </summary>
internal static class HostSpans
{
    public const string SourceName = "PluginHost";

    public static readonly ActivitySource Source = new(SourceName, ThisAssembly.Version);

    // Attempt spans are made on every request while tracing: their names and small numbers are not allocated each
    // time. The names are bounded by the configuration (only configured models and aliases reach an attempt); the
    // cap only guards against a configuration reloaded with new names for a very long time.
    private static readonly ConcurrentDictionary<(string Operation, string? Model), string> Names = new();
    private static readonly object[] Attempts = [.. Enumerable.Range(0, 16).Select(n => (object)n)];

    /// <summary>
    /// Starts the span of a handler attempt, named as OpenTelemetry's GenAI spans are (<c>chat my-model</c>, the model
    /// the client asked for), with the deployment's model, the group, deployment, plugin version and the attempt's
    /// number (1 for the first).
    /// </summary>
    public static Activity? StartAttempt(RequestRecord record, int attempt)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var span = Source.StartActivity(AttemptName(record.Operation, record.RequestedModel), ActivityKind.Internal);
        if (span is { IsAllDataRequested: true })
        {
            // AddTag, not SetTag: each name is added once, so there is no list to search.
            span.AddTag(TelemetryNames.Operation, record.Operation);
            span.AddTag(TelemetryNames.RequestModel, record.RequestedModel);
            span.AddTag(TelemetryNames.ResponseModel, record.ProviderModel);
            span.AddTag(TelemetryNames.ModelGroup, record.ModelGroup);
            span.AddTag(TelemetryNames.Deployment, record.Deployment);
            span.AddTag(TelemetryNames.Plugin, record.Plugin);
            span.AddTag(TelemetryNames.PluginGeneration, record.PluginGeneration);
            span.AddTag(TelemetryNames.Attempt, attempt < Attempts.Length ? Attempts[attempt] : attempt);
        }

        return span;
    }

    private static string AttemptName(string operation, string? model) =>
        Names.TryGetValue((operation, model), out var name) ? name
        : Names.Count < 1000 ? Names.GetOrAdd((operation, model), static key => $"{key.Operation} {key.Model}")
        : $"{operation} {model}";

    /// <summary>
    /// Ends an attempt's span. One the router counted (<paramref name="counted"/>) succeeded unless the record has an
    /// error class; one it did not was abandoned: the client left, the request was malformed, or a stream broke after
    /// its first chunk.
    /// </summary>
    public static void EndAttempt(Activity? span, RequestRecord record, bool counted, bool clientLeft)
    {
        if (span is null)
        {
            return;
        }

        var error = counted ? record.ErrorType : clientLeft ? TelemetryNames.Cancelled : TelemetryNames.OtherError;
        if (error is not null)
        {
            span.SetStatus(ActivityStatusCode.Error);
            span.AddTag(TelemetryNames.ErrorType, error);
        }
        else if (record.Usage is { } usage && span.IsAllDataRequested)
        {
            span.AddTag(TelemetryNames.InputTokens, usage.PromptTokens);
            span.AddTag(TelemetryNames.OutputTokens, usage.CompletionTokens);
        }

        span.Dispose();
    }

    /// <summary>Starts the span of loading the configuration and plugins: at startup (<paramref name="initial"/>) or a reload.</summary>
    public static Activity? StartReload(bool initial) =>
        Source.StartActivity(initial ? "pluginhost.start" : "pluginhost.reload", ActivityKind.Internal);

    /// <summary>Ends a reload's span with the snapshot it made and what failed.</summary>
    public static void EndReload(Activity? span, ProxySnapshot snapshot, string? configError, int pluginFailures)
    {
        if (span is null)
        {
            return;
        }

        span.SetTag(TelemetryNames.SnapshotGeneration, snapshot.Generation);
        span.SetTag(TelemetryNames.PluginFailures, pluginFailures);
        if (configError is not null)
        {
            span.SetStatus(ActivityStatusCode.Error, configError);
            span.SetTag(TelemetryNames.ErrorType, TelemetryNames.ConfigRejected);
        }

        span.Dispose();
    }

    /// <summary>Starts the span of loading one plugin version (a new or changed assembly).</summary>
    public static Activity? StartPluginLoad(PluginFile file)
    {
        var span = Source.StartActivity("pluginhost.plugin.load", ActivityKind.Internal);
        span?.SetTag(TelemetryNames.Plugin, file.Name);
        span?.SetTag(TelemetryNames.PluginPath, file.Path);
        return span;
    }

    /// <summary>Ends a plugin load's span: the version loaded, or why it failed.</summary>
    public static void EndPluginLoad(Activity? span, LoadedPlugin? loaded, string? error)
    {
        if (span is null)
        {
            return;
        }

        if (loaded is not null)
        {
            span.SetTag(TelemetryNames.PluginGeneration, loaded.Generation);
            span.SetTag(TelemetryNames.PluginVersion, loaded.Version);
            span.SetTag(TelemetryNames.PluginHash, loaded.ContentHash);
        }

        if (error is not null)
        {
            span.SetStatus(ActivityStatusCode.Error, error);
            span.SetTag(TelemetryNames.ErrorType, TelemetryNames.LoadFailed);
        }

        span.Dispose();
    }
}
