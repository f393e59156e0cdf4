using System.Text;

namespace PluginHost.Tests.Infrastructure;

/// <summary>A model for <see cref="Yaml.Config"/>: its public name, its handler, and extra <c>litellm_params</c>.</summary>
internal sealed record Model(string Name, string Handler, params (string Key, string Value)[] Params);

/// <summary>Builds small plugins.yaml files for tests.</summary>
internal static class Yaml
{
    /// <summary>One provider per model (<c>p0</c>, <c>p1</c>…), each model <c>pN/NAME-upstream</c>, and the master key.</summary>
    public static string Config(params Model[] models)
    {
        var yaml = new StringBuilder("model_list:\n");
        for (var i = 0; i < models.Length; i++)
        {
            yaml.Append($"  - model_name: {models[i].Name}\n    litellm_params:\n      model: p{i}/{models[i].Name}-upstream\n");
            foreach (var (key, value) in models[i].Params)
            {
                yaml.Append($"      {key}: {value}\n");
            }
        }

        yaml.Append("litellm_settings:\n  custom_provider_map:\n");
        for (var i = 0; i < models.Length; i++)
        {
            yaml.Append($"    - provider: p{i}\n      custom_handler: {models[i].Handler}\n");
        }

        yaml.Append($"general_settings:\n  master_key: {TestProxy.MasterKey}\n");
        return yaml.ToString();
    }
}
