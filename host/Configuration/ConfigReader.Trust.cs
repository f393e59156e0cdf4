using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace PluginHost.Configuration;

internal static partial class ConfigReader
{
    /// <summary>
    /// <c>general_settings.allowed_plugin_sha256</c> (hex SHA-256 hashes, as <c>pluginhost hash</c> prints) and
    /// <c>general_settings.trusted_plugin_keys</c> (each a PEM public key inline, or the path of a file holding one,
    /// relative to the configuration file). Key files are read with the configuration.
    /// </summary>
    private static PluginTrust ReadTrust(Reader reader, YamlMappingNode general, string file)
    {
        var hashes = new HashSet<string>(StringComparer.Ordinal);
        if (reader.Child(general, "allowed_plugin_sha256") is { } hashesNode)
        {
            var i = 0;
            foreach (var node in reader.Sequence(hashesNode, "general_settings.allowed_plugin_sha256"))
            {
                var where = $"general_settings.allowed_plugin_sha256[{i++}]";
                var text = (node as YamlScalarNode)?.Value?.Trim() ?? throw reader.Error(node, $"{where} must be a single value.");
                if (!Sha256Hex().IsMatch(text))
                {
                    throw reader.Error(node, $"{where} '{text}' is not a SHA-256 hash (64 hex digits, as 'pluginhost hash FILE.dll' prints).");
                }

                hashes.Add(text.ToLowerInvariant());
            }
        }

        var keys = new List<TrustedKey>();
        if (reader.Child(general, "trusted_plugin_keys") is { } keysNode)
        {
            var i = 0;
            foreach (var node in reader.Sequence(keysNode, "general_settings.trusted_plugin_keys"))
            {
                var where = $"general_settings.trusted_plugin_keys[{i++}]";
                var text = (node as YamlScalarNode)?.Value?.Trim() ?? throw reader.Error(node, $"{where} must be a single value.");
                string pem, source;
                if (text.Contains("-----BEGIN", StringComparison.Ordinal))
                {
                    (pem, source) = (text, $"{where} (inline)");
                }
                else
                {
                    var path = Path.GetFullPath(text, Path.GetDirectoryName(Path.GetFullPath(file)) ?? Directory.GetCurrentDirectory());
                    try
                    {
                        (pem, source) = (File.ReadAllText(path), path);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        throw reader.Error(node, $"{where} '{text}': cannot read the public key file {path}: {ex.Message}");
                    }
                }

                try
                {
                    keys.Add(TrustedKey.FromPem(source, pem));
                }
                catch (ArgumentException ex)
                {
                    throw reader.Error(node, $"{where} '{(source.EndsWith("(inline)", StringComparison.Ordinal) ? "inline PEM" : text)}': {ex.Message}.");
                }
            }
        }

        return hashes.Count == 0 && keys.Count == 0 ? PluginTrust.None : new PluginTrust(hashes, keys);
    }

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256Hex();
}
