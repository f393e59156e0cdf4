using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace PluginHost.Configuration;

// router_settings, and the router keys LiteLLM also reads under litellm_settings (router_settings wins).
internal static partial class ConfigReader
{
    private static readonly Dictionary<string, ErrorClass> RetryPolicyKeys = new(StringComparer.Ordinal)
    {
        ["BadRequestErrorRetries"] = ErrorClass.BadRequest,
        ["AuthenticationErrorRetries"] = ErrorClass.Authentication,
        ["TimeoutErrorRetries"] = ErrorClass.Timeout,
        ["RateLimitErrorRetries"] = ErrorClass.RateLimit,
        ["ContentPolicyViolationErrorRetries"] = ErrorClass.ContentPolicyViolation,
        ["InternalServerErrorRetries"] = ErrorClass.InternalServer,
    };

    private static readonly Dictionary<string, ErrorClass> AllowedFailsPolicyKeys = new(StringComparer.Ordinal)
    {
        ["BadRequestErrorAllowedFails"] = ErrorClass.BadRequest,
        ["AuthenticationErrorAllowedFails"] = ErrorClass.Authentication,
        ["TimeoutErrorAllowedFails"] = ErrorClass.Timeout,
        ["RateLimitErrorAllowedFails"] = ErrorClass.RateLimit,
        ["ContentPolicyViolationErrorAllowedFails"] = ErrorClass.ContentPolicyViolation,
        ["InternalServerErrorAllowedFails"] = ErrorClass.InternalServer,
    };

    private static RouterSettings ReadRouter(Reader reader, YamlMappingNode root, IReadOnlyList<ModelDeployment> models)
    {
        var settings = new RouterSettings();
        var sections = new List<(YamlMappingNode Node, string Name)>();
        if (reader.Child(root, "litellm_settings") is { } litellm)
        {
            sections.Add((reader.Mapping(litellm, "litellm_settings"), "litellm_settings"));
        }

        if (reader.Child(root, "router_settings") is { } router)
        {
            sections.Add((reader.Mapping(router, "router_settings"), "router_settings"));
        }

        foreach (var (node, name) in sections)
        {
            var onlyRouter = name == "router_settings";
            settings = settings with
            {
                Strategy = onlyRouter && reader.OptionalString(node, "routing_strategy", name) is { } strategy ? Strategy(reader, node, strategy) : settings.Strategy,
                NumRetries = reader.Count(node, "num_retries", name, 0) ?? settings.NumRetries,
                RetryAfter = reader.Seconds(node, "retry_after", name, allowZero: true) ?? settings.RetryAfter,
                Timeout = reader.Seconds(node, onlyRouter ? "timeout" : "request_timeout", name, allowZero: false) ?? settings.Timeout,
                StreamTimeout = reader.Seconds(node, "stream_timeout", name, allowZero: false) ?? settings.StreamTimeout,
                AllowedFails = reader.Count(node, "allowed_fails", name, 0) ?? settings.AllowedFails,
                CooldownTime = reader.Seconds(node, "cooldown_time", name, allowZero: true) ?? settings.CooldownTime,
                Fallbacks = Fallbacks(reader, node, "fallbacks", name) ?? settings.Fallbacks,
                ContextWindowFallbacks = Fallbacks(reader, node, "context_window_fallbacks", name) ?? settings.ContextWindowFallbacks,
                ContentPolicyFallbacks = Fallbacks(reader, node, "content_policy_fallbacks", name) ?? settings.ContentPolicyFallbacks,
                MaxFallbacks = reader.Count(node, "max_fallbacks", name, 0) ?? settings.MaxFallbacks,
                RetryPolicy = Policy(reader, node, "retry_policy", name, RetryPolicyKeys) ?? settings.RetryPolicy,
                AllowedFailsPolicy = Policy(reader, node, "allowed_fails_policy", name, AllowedFailsPolicyKeys) ?? settings.AllowedFailsPolicy,
                Aliases = onlyRouter ? Aliases(reader, node, name) ?? settings.Aliases : settings.Aliases,
                Redis = onlyRouter ? Redis(reader, node, name) ?? settings.Redis : settings.Redis,
            };
        }

        CheckGroups(reader, root, settings, models);
        return settings;
    }

    private static RoutingStrategy Strategy(Reader reader, YamlMappingNode node, string value) => value switch
    {
        "simple-shuffle" => RoutingStrategy.SimpleShuffle,
        "least-busy" => RoutingStrategy.LeastBusy,
        "latency-based-routing" => RoutingStrategy.LatencyBased,
        "usage-based-routing-v2" or "usage-based-routing" => RoutingStrategy.UsageBased,
        _ => throw reader.Error(node, $"router_settings.routing_strategy '{value}' is not one of simple-shuffle, least-busy, latency-based-routing, usage-based-routing-v2."),
    };

    /// <summary>LiteLLM's shape, a list of one-key mappings (<c>[{"gpt-a": ["gpt-b"]}]</c>); a plain mapping is taken too.</summary>
    private static Dictionary<string, IReadOnlyList<string>>? Fallbacks(Reader reader, YamlMappingNode node, string key, string section)
    {
        if (reader.Child(node, key) is not { } value)
        {
            return null;
        }

        var where = $"{section}.{key}";
        IEnumerable<YamlMappingNode> entries = value is YamlMappingNode single ? [single] : reader.Sequence(value, where).Select((item, i) => reader.Mapping(item, $"{where}[{i}]"));
        var fallbacks = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            foreach (var (groupNode, targetsNode) in entry.Children)
            {
                var group = ((YamlScalarNode)groupNode).Value ?? "";
                var targets = targetsNode is YamlScalarNode { Value: { } one }
                    ? [one]
                    : reader.Sequence(targetsNode, $"{where}.{group}").Select(t => t is YamlScalarNode { Value: { Length: > 0 } name } ? name : throw reader.Error(t, $"{where}.{group} must list model names.")).ToList();
                fallbacks[group] = targets;
            }
        }

        return fallbacks;
    }

    private static Dictionary<ErrorClass, int>? Policy(Reader reader, YamlMappingNode node, string key, string section, Dictionary<string, ErrorClass> names)
    {
        if (reader.Child(node, key) is not { } value)
        {
            return null;
        }

        var where = $"{section}.{key}";
        var policy = new Dictionary<ErrorClass, int>();
        var mapping = reader.Mapping(value, where);
        foreach (var (nameNode, _) in mapping.Children)
        {
            var name = ((YamlScalarNode)nameNode).Value ?? "";
            if (!names.TryGetValue(name, out var errorClass))
            {
                throw reader.Error(nameNode, $"{where}.{name} is not one of {string.Join(", ", names.Keys)}.");
            }

            policy[errorClass] = reader.Count(mapping, name, where, 0)!.Value;
        }

        return policy;
    }

    private static Dictionary<string, GroupAlias>? Aliases(Reader reader, YamlMappingNode node, string section)
    {
        if (reader.Child(node, "model_group_alias") is not { } value)
        {
            return null;
        }

        var where = $"{section}.model_group_alias";
        var aliases = new Dictionary<string, GroupAlias>(StringComparer.Ordinal);
        foreach (var (aliasNode, targetNode) in reader.Mapping(value, where).Children)
        {
            var alias = ((YamlScalarNode)aliasNode).Value ?? "";
            aliases[alias] = targetNode switch
            {
                YamlScalarNode { Value: { Length: > 0 } group } => new GroupAlias(group, Hidden: false),
                YamlMappingNode target => new GroupAlias(
                    reader.RequiredString(target, "model", $"{where}.{alias}"),
                    reader.OptionalString(target, "hidden", $"{where}.{alias}") is "true" or "True"),
                _ => throw reader.Error(targetNode, $"{where}.{alias} must be a model_name or {{model: NAME, hidden: true}}."),
            };
        }

        return aliases;
    }

    private static RedisSettings? Redis(Reader reader, YamlMappingNode node, string section)
    {
        if (reader.OptionalString(node, "redis_url", section) is { Length: > 0 } url)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("redis" or "rediss") || uri.Host.Length == 0)
            {
                throw reader.Error(node, $"{section}.redis_url is not a redis://[:password@]host:port URL.");
            }

            var password = uri.UserInfo.Split(':', 2) is [_, var secret] ? Uri.UnescapeDataString(secret) : uri.UserInfo.Length > 0 ? Uri.UnescapeDataString(uri.UserInfo) : null;
            var port = uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port;
            return Connection(uri.Host, port, password, uri.Scheme == "rediss");
        }

        if (reader.OptionalString(node, "redis_host", section) is not { Length: > 0 } host)
        {
            return null;
        }

        var portText = reader.OptionalString(node, "redis_port", section) ?? "6379";
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var redisPort) || redisPort is < 1 or > 65535)
        {
            throw reader.Error(node, $"{section}.redis_port '{portText}' is not a port number (1-65535).");
        }

        return Connection(host, redisPort, reader.OptionalString(node, "redis_password", section), ssl: false);

        static RedisSettings Connection(string host, int port, string? password, bool ssl)
        {
            var endpoint = $"{host}:{port.ToString(CultureInfo.InvariantCulture)}";
            var options = $"{endpoint},abortConnect=false,connectTimeout=2000,syncTimeout=1000,asyncTimeout=1000,connectRetry=1";
            options += ssl ? ",ssl=true" : "";
            return new RedisSettings(options, endpoint, password is { Length: > 0 } ? password : null);
        }
    }

    /// <summary>Every group a fallback or alias names must be a <c>model_name</c>.</summary>
    private static void CheckGroups(Reader reader, YamlMappingNode root, RouterSettings settings, IReadOnlyList<ModelDeployment> models)
    {
        var names = models.Select(m => m.ModelName).ToHashSet(StringComparer.Ordinal);
        foreach (var (key, fallbacks) in new[] { ("fallbacks", settings.Fallbacks), ("context_window_fallbacks", settings.ContextWindowFallbacks), ("content_policy_fallbacks", settings.ContentPolicyFallbacks) })
        {
            foreach (var (group, targets) in fallbacks)
            {
                foreach (var name in targets.Prepend(group).Where(n => !names.Contains(n)))
                {
                    throw reader.Error(root, $"router_settings.{key}: '{name}' is not a model_name in model_list (models: {string.Join(", ", names)}).");
                }
            }
        }

        foreach (var (alias, target) in settings.Aliases)
        {
            if (!names.Contains(target.Group))
            {
                throw reader.Error(root, $"router_settings.model_group_alias.{alias}: '{target.Group}' is not a model_name in model_list.");
            }
        }
    }
}
