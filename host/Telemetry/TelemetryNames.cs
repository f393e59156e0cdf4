namespace PluginHost.Telemetry;

/// <summary>
/// Attribute names and values on spans and metrics: OpenTelemetry's semantic conventions (GenAI, errors) where they
/// have one, <c>pluginhost.*</c> for what is PluginHost's own. The README's telemetry section lists them.
/// </summary>
internal static class TelemetryNames
{
    // OpenTelemetry GenAI semantic conventions.
    public const string Operation = "gen_ai.operation.name";
    public const string RequestModel = "gen_ai.request.model";
    public const string ResponseModel = "gen_ai.response.model";
    public const string TokenType = "gen_ai.token.type";
    public const string InputTokens = "gen_ai.usage.input_tokens";
    public const string OutputTokens = "gen_ai.usage.output_tokens";
    public const string Input = "input";
    public const string Output = "output";

    // OpenTelemetry's general error attribute, and its value for an error of no known class.
    public const string ErrorType = "error.type";
    public const string OtherError = "_OTHER";

    // PluginHost's own.
    public const string ModelGroup = "pluginhost.model_group";
    public const string Deployment = "pluginhost.deployment";
    public const string Plugin = "pluginhost.plugin";
    public const string PluginGeneration = "pluginhost.plugin.generation";
    public const string PluginVersion = "pluginhost.plugin.version";
    public const string PluginHash = "pluginhost.plugin.hash";
    public const string PluginPath = "pluginhost.plugin.path";
    public const string PluginState = "pluginhost.plugin.state";
    public const string PluginFailures = "pluginhost.plugin_failures";
    public const string SnapshotGeneration = "pluginhost.snapshot.generation";
    public const string Attempt = "pluginhost.attempt";
    public const string Outcome = "pluginhost.outcome";

    // Values of error.type and pluginhost.outcome besides the router's error classes.
    public const string Cancelled = "Cancelled";
    public const string ConfigRejected = "ConfigRejected";
    public const string LoadFailed = "LoadFailed";
    public const string Ok = "ok";
    public const string Failed = "failed";
    public const string Success = "success";
    public const string Failure = "failure";
    public const string Collected = "collected";
    public const string Leaked = "leaked";
}
