using System.Globalization;
using PluginHost.Sdk;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PluginHost.Configuration;

/// <summary>A configuration file that cannot be used; the message names the file, the entry and what is wrong.</summary>
internal class ConfigException(string message) : Exception(message);

/// <summary>
/// Reads <c>plugins.yaml</c> with LiteLLM's keys. Unknown keys are ignored (LiteLLM has many we do not need);
/// <c>os.environ/NAME</c> values resolve from the environment.
/// </summary>
internal static partial class ConfigReader
{
    private const string EnvironmentPrefix = "os.environ/";

    public static ProxyConfig ReadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{path}: cannot read the configuration file: {ex.Message}");
        }

        return Parse(text, path);
    }

    public static ProxyConfig Parse(string yaml, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new ConfigException($"{file}:{ex.Start.Line}: invalid YAML: {ex.InnerException?.Message ?? ex.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            throw new ConfigException($"{file}: the file is empty; it needs at least model_list and litellm_settings.custom_provider_map.");
        }

        var reader = new Reader(file);
        var root = reader.Mapping(stream.Documents[0].RootNode, "the document");

        var providers = new List<ProviderMapping>();
        if (reader.Child(root, "litellm_settings") is { } settingsNode)
        {
            var settings = reader.Mapping(settingsNode, "litellm_settings");
            if (reader.Child(settings, "custom_provider_map") is { } mapNode)
            {
                var i = 0;
                foreach (var entryNode in reader.Sequence(mapNode, "litellm_settings.custom_provider_map"))
                {
                    var where = $"litellm_settings.custom_provider_map[{i++}]";
                    var entry = reader.Mapping(entryNode, where);
                    var provider = reader.RequiredString(entry, "provider", where);
                    var handlerText = reader.RequiredString(entry, "custom_handler", where);
                    if (!HandlerName.TryParse(handlerText, out var handler))
                    {
                        throw reader.Error(entryNode, $"{where}.custom_handler '{handlerText}' is not a handler name; use 'AssemblyName' or 'AssemblyName:TypeName'.");
                    }

                    if (providers.Exists(p => p.Provider == provider))
                    {
                        throw reader.Error(entryNode, $"{where}: provider '{provider}' is mapped twice.");
                    }

                    var worker = ReadIsolation(reader, entry, entryNode, where);
                    if (providers.Find(p => p.Handler.Assembly == handler.Assembly) is { } sibling && sibling.Worker != worker)
                    {
                        throw reader.Error(entryNode, $"{where}: the isolation settings differ from those of provider '{sibling.Provider}', which maps the same assembly {handler.Assembly} (one assembly runs in one place: give every entry naming it the same isolation and worker_* keys).");
                    }

                    providers.Add(new ProviderMapping(provider, handler, reader.Location(entryNode, where), worker));
                }
            }
        }

        var models = new List<ModelDeployment>();
        if (reader.Child(root, "model_list") is { } listNode)
        {
            var i = 0;
            foreach (var entryNode in reader.Sequence(listNode, "model_list"))
            {
                var where = $"model_list[{i++}]";
                models.Add(ReadDeployment(reader, entryNode, where));
            }
        }

        string? masterKey = null;
        var maxRequestSizeMb = 32d;
        var requireHandlers = false;
        var metricsRequireKey = true;
        var limits = new RequestLimits();
        var responsesStoreSize = ProxyConfig.DefaultResponsesStoreSize;
        var trust = PluginTrust.None;
        if (reader.Child(root, "general_settings") is { } generalNode)
        {
            var general = reader.Mapping(generalNode, "general_settings");
            masterKey = reader.OptionalString(general, "master_key", "general_settings");
            requireHandlers = reader.OptionalString(general, "require_handlers", "general_settings") switch
            {
                null or "false" or "False" => false,
                "true" or "True" => true,
                var other => throw reader.Error(generalNode, $"general_settings.require_handlers '{other}' must be true or false."),
            };
            metricsRequireKey = reader.OptionalString(general, "metrics_require_key", "general_settings") switch
            {
                null or "true" or "True" => true,
                "false" or "False" => false,
                var other => throw reader.Error(generalNode, $"general_settings.metrics_require_key '{other}' must be true or false."),
            };
            if (reader.OptionalString(general, "max_request_size_mb", "general_settings") is { } size)
            {
                if (!double.TryParse(size, NumberStyles.Float, CultureInfo.InvariantCulture, out maxRequestSizeMb) || maxRequestSizeMb <= 0)
                {
                    throw reader.Error(generalNode, $"general_settings.max_request_size_mb '{size}' is not a positive number.");
                }
            }

            limits = new RequestLimits
            {
                MaxEmbeddingInputs = Limit("max_embedding_inputs", limits.MaxEmbeddingInputs),
                MaxEmbeddingDimensions = Limit("max_embedding_dimensions", limits.MaxEmbeddingDimensions),
                MaxRerankDocuments = Limit("max_rerank_documents", limits.MaxRerankDocuments),
                MaxCompletionPrompts = Limit("max_completion_prompts", limits.MaxCompletionPrompts),
                MaxImagesPerRequest = Limit("max_images_per_request", limits.MaxImagesPerRequest),
                MaxImageSidePixels = Limit("max_image_side_px", limits.MaxImageSidePixels),
            };
            responsesStoreSize = Limit("responses_store_size", responsesStoreSize, min: 0);
            trust = ReadTrust(reader, general, file);

            int Limit(string key, int fallback, int min = 1)
            {
                if (reader.OptionalString(general, key, "general_settings") is not { } text)
                {
                    return fallback;
                }

                return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min
                    ? value
                    : throw reader.Error(generalNode, $"general_settings.{key} '{text}' is not a {(min > 0 ? "positive" : "non-negative")} whole number.");
            }
        }

        return new ProxyConfig
        {
            SourceFile = file,
            ContentHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(yaml))),
            Models = models,
            Providers = providers,
            MasterKey = string.IsNullOrEmpty(masterKey) ? null : masterKey,
            MaxRequestSizeMb = maxRequestSizeMb,
            RequireHandlers = requireHandlers,
            MetricsRequireKey = metricsRequireKey,
            Limits = limits,
            ResponsesStoreSize = responsesStoreSize,
            Trust = trust,
            Router = ReadRouter(reader, root, models),
        };
    }

    /// <summary>
    /// <c>isolation</c> (<c>in_process</c>, the default, or <c>process</c>) and, for <c>process</c>, the worker's
    /// <c>worker_memory_mb</c>, <c>worker_request_timeout</c>, <c>worker_crash_limit</c> and <c>worker_circuit_open</c>.
    /// </summary>
    private static WorkerSettings? ReadIsolation(Reader reader, YamlMappingNode entry, YamlNode entryNode, string where)
    {
        string[] workerKeys = ["worker_memory_mb", "worker_request_timeout", "worker_crash_limit", "worker_circuit_open"];
        switch (reader.OptionalString(entry, "isolation", where))
        {
            case null or "in_process":
                if (workerKeys.FirstOrDefault(k => reader.Child(entry, k) is not null) is { } stray)
                {
                    throw reader.Error(entryNode, $"{where}.{stray} applies to a worker process; it needs isolation: process.");
                }

                return null;
            case "process":
                var defaults = new WorkerSettings();
                return new WorkerSettings
                {
                    MemoryMb = reader.Count(entry, "worker_memory_mb", where, 16),
                    RequestTimeout = reader.Seconds(entry, "worker_request_timeout", where, allowZero: false) ?? defaults.RequestTimeout,
                    CrashLimit = reader.Count(entry, "worker_crash_limit", where, 1) ?? defaults.CrashLimit,
                    CircuitOpen = reader.Seconds(entry, "worker_circuit_open", where, allowZero: false) ?? defaults.CircuitOpen,
                };
            case var other:
                throw reader.Error(entryNode, $"{where}.isolation '{other}' must be in_process (the default) or process.");
        }
    }

    private static ModelDeployment ReadDeployment(Reader reader, YamlNode entryNode, string where)
    {
        var entry = reader.Mapping(entryNode, where);
        var modelName = reader.RequiredString(entry, "model_name", where);
        var paramsNode = reader.Child(entry, "litellm_params") ?? throw reader.Error(entryNode, $"{where} ('{modelName}') has no litellm_params.");
        var parameters = reader.Mapping(paramsNode, $"{where}.litellm_params");
        var model = reader.RequiredString(parameters, "model", $"{where}.litellm_params");
        var slash = model.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == model.Length - 1)
        {
            throw reader.Error(paramsNode, $"{where}.litellm_params.model '{model}' must be 'provider/model', with the provider named in litellm_settings.custom_provider_map.");
        }

        TimeSpan? timeout = null;
        if (reader.OptionalString(parameters, "timeout", $"{where}.litellm_params") is { } timeoutText)
        {
            if (!double.TryParse(timeoutText, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
            {
                throw reader.Error(paramsNode, $"{where}.litellm_params.timeout '{timeoutText}' is not a positive number of seconds.");
            }

            timeout = TimeSpan.FromSeconds(seconds);
        }

        var extra = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in parameters.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            if (key is not ("model" or "api_base" or "api_key" or "timeout"))
            {
                extra[key] = reader.ToValue(valueNode);
            }
        }

        string? mode = null, id = null;
        if (reader.Child(entry, "model_info") is { } infoNode)
        {
            var info = reader.Mapping(infoNode, $"{where}.model_info");
            mode = reader.OptionalString(info, "mode", $"{where}.model_info");
            id = reader.OptionalString(info, "id", $"{where}.model_info");
        }

        var weight = reader.OptionalString(parameters, "weight", $"{where}.litellm_params") is { } weightText
            ? double.TryParse(weightText, NumberStyles.Float, CultureInfo.InvariantCulture, out var w) && w > 0 && double.IsFinite(w) ? w : throw reader.Error(paramsNode, $"{where}.litellm_params.weight '{weightText}' is not a positive number.")
            : (double?)null;

        return new ModelDeployment
        {
            ModelName = modelName,
            Provider = model[..slash],
            ProviderModel = model[(slash + 1)..],
            Settings = new Deployment
            {
                ApiBase = reader.OptionalString(parameters, "api_base", $"{where}.litellm_params"),
                ApiKey = reader.OptionalString(parameters, "api_key", $"{where}.litellm_params"),
                Timeout = timeout,
                LitellmParams = extra,
            },
            Mode = mode,
            Id = id ?? DeploymentId(modelName, parameters),
            Rpm = reader.Count(parameters, "rpm", $"{where}.litellm_params", 1),
            Tpm = reader.Count(parameters, "tpm", $"{where}.litellm_params", 1),
            Weight = weight,
            StreamTimeout = reader.Seconds(parameters, "stream_timeout", $"{where}.litellm_params", allowZero: false),
            Location = reader.Location(entryNode, where),
        };
    }

    /// <summary>
    /// LiteLLM's way of naming a deployment without <c>model_info.id</c>: a hash of its model name and parameters,
    /// the same on every instance that reads the same entry (shared state in Redis is keyed by it).
    /// </summary>
    private static string DeploymentId(string modelName, YamlMappingNode parameters)
    {
        var text = new System.Text.StringBuilder(modelName);
        foreach (var (key, value) in parameters.Children.OrderBy(p => ((YamlScalarNode)p.Key).Value, StringComparer.Ordinal))
        {
            text.Append('\n').Append(((YamlScalarNode)key).Value).Append('=').Append(value.ToString());
        }

        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    /// <summary>Node access that turns every shape mistake into a message naming file, line and key.</summary>
    private sealed class Reader(string file)
    {
        public ConfigException Error(YamlNode node, string message) => new($"{file}:{node.Start.Line}: {message}");

        public string Location(YamlNode node, string where) => $"{file}:{node.Start.Line} ({where})";

        public YamlMappingNode Mapping(YamlNode node, string where) =>
            node as YamlMappingNode ?? throw Error(node, $"{where} must be a mapping (key: value).");

        public IEnumerable<YamlNode> Sequence(YamlNode node, string where) => node switch
        {
            YamlSequenceNode sequence => sequence.Children,
            YamlScalarNode { Value: null or "" } => [],
            _ => throw Error(node, $"{where} must be a list."),
        };

        public YamlNode? Child(YamlMappingNode mapping, string key)
        {
            foreach (var (k, v) in mapping.Children)
            {
                if (k is YamlScalarNode { Value: var name } && name == key)
                {
                    return v is YamlScalarNode { Value: null or "" } && v.Tag.IsEmpty && ((YamlScalarNode)v).Style == ScalarStyle.Plain ? null : v;
                }
            }

            return null;
        }

        public string RequiredString(YamlMappingNode mapping, string key, string where) =>
            OptionalString(mapping, key, where) is { Length: > 0 } value
                ? value
                : throw Error(mapping, $"{where} needs '{key}'.");

        public string? OptionalString(YamlMappingNode mapping, string key, string where)
        {
            var node = Child(mapping, key);
            return node switch
            {
                null => null,
                YamlScalarNode scalar => Resolve(scalar.Value),
                _ => throw Error(node, $"{where}.{key} must be a single value."),
            };
        }

        /// <summary>A whole number of at least <paramref name="min"/>, if the key is there.</summary>
        public int? Count(YamlMappingNode mapping, string key, string where, int min)
        {
            if (OptionalString(mapping, key, where) is not { } text)
            {
                return null;
            }

            return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min
                ? value
                : throw Error(mapping, $"{where}.{key} '{text}' is not a whole number of at least {min}.");
        }

        /// <summary>A number of seconds, if the key is there.</summary>
        public TimeSpan? Seconds(YamlMappingNode mapping, string key, string where, bool allowZero)
        {
            if (OptionalString(mapping, key, where) is not { } text)
            {
                return null;
            }

            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && (seconds > 0 || (allowZero && seconds == 0)) && seconds <= 86_400
                ? TimeSpan.FromSeconds(seconds)
                : throw Error(mapping, $"{where}.{key} '{text}' is not a number of seconds ({(allowZero ? "0" : "more than 0")} to 86400).");
        }

        public object? ToValue(YamlNode node) => node switch
        {
            YamlScalarNode scalar => ScalarValue(scalar),
            YamlSequenceNode sequence => sequence.Children.Select(ToValue).ToList(),
            YamlMappingNode mapping => mapping.Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value ?? "", p => ToValue(p.Value)),
            _ => null,
        };

        private static object? ScalarValue(YamlScalarNode scalar)
        {
            var value = scalar.Value;
            if (scalar.Style != ScalarStyle.Plain || value is null)
            {
                return Resolve(value);
            }

            if (value is "" or "~" or "null")
            {
                return null;
            }

            if (value is "true" or "True")
            {
                return true;
            }

            if (value is "false" or "False")
            {
                return false;
            }

            if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var integer))
            {
                return integer;
            }

            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
            {
                return number;
            }

            return Resolve(value);
        }

        private static string? Resolve(string? value) =>
            value is not null && value.StartsWith(EnvironmentPrefix, StringComparison.Ordinal)
                ? Environment.GetEnvironmentVariable(value[EnvironmentPrefix.Length..])
                : value;
    }
}
