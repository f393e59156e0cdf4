using System.Runtime.InteropServices;
using System.Text.Json;

namespace PluginHost.Plugins;

/// <summary>
/// The extra probing paths a <c>*.runtimeconfig.json</c> (and the <c>*.runtimeconfig.dev.json</c> beside it) names:
/// what McMaster's <c>TryAddAdditionalProbingPathFromRuntimeConfig</c> adds to a load context, read with a
/// <see cref="JsonDocument"/> instead of its reflection serializer, whose first use (converters, emitted accessors,
/// and the process's main module looked up once per file) was most of the first plugin's load at startup. Same
/// reading: <c>runtimeOptions.additionalProbingPaths</c> with <c>|arch|</c> and <c>|tfm|</c> filled in (a path
/// needing a target framework neither file names is skipped), then, when the file names a target framework and the
/// process is <c>dotnet</c>, the runtime's package store for it. A file that is missing, not JSON or of the wrong
/// shape adds nothing (its dev file is then not read); a bad dev file only adds nothing of its own; a null, empty
/// or relative probing path ends the list there.
/// </summary>
internal static class RuntimeConfigProbing
{
    private static readonly string Architecture = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();

    /// <summary>The probing paths <paramref name="runtimeConfigPath"/> and its dev file add, in McMaster's order.</summary>
    public static IReadOnlyList<string> PathsFrom(string runtimeConfigPath)
    {
        var paths = new List<string>();
        try
        {
            if (!TryRead(runtimeConfigPath, out var options))
            {
                return paths;
            }

            var devOptions = TryRead(string.Concat(runtimeConfigPath.AsSpan(0, runtimeConfigPath.Length - ".json".Length), ".dev.json"), out var dev) ? dev : null;
            var tfm = options?.Tfm ?? devOptions?.Tfm;
            Add(paths, options, tfm);
            Add(paths, devOptions, tfm);
            if (tfm is not null
                && Environment.ProcessPath is { } dotnet
                && string.Equals(Path.GetFileNameWithoutExtension(dotnet), "dotnet", StringComparison.OrdinalIgnoreCase)
                && Path.GetDirectoryName(dotnet) is { } dotnetHome)
            {
                paths.Add(Path.Combine(dotnetHome, "store", Architecture, tfm));
            }
        }
        catch (Exception)
        {
            // As McMaster's: anything that goes wrong (a null, empty or relative probing path) keeps the paths added before it.
        }

        return paths;
    }

    private static void Add(List<string> paths, RuntimeOptions? options, string? tfm)
    {
        foreach (var item in options?.AdditionalProbingPaths ?? [])
        {
            var path = (item ?? throw new InvalidOperationException("a null probing path")).Replace("|arch|", Architecture, StringComparison.Ordinal);
            if (path.Contains("|tfm|", StringComparison.Ordinal))
            {
                if (tfm is null)
                {
                    continue;
                }

                path = path.Replace("|tfm|", tfm, StringComparison.Ordinal);
            }

            // McMaster's builder refuses an empty or relative path, which ends the reading there.
            paths.Add(string.IsNullOrEmpty(path) || !Path.IsPathRooted(path) ? throw new ArgumentException($"not a full path: {path}") : path);
        }
    }

    /// <summary>
    /// Reads the file's <c>runtimeOptions</c> (null when the file has none, or is JSON <c>null</c>); false when the file
    /// cannot be read or is not of the shape the serializer would accept (names case-sensitive, the last of a repeated
    /// name counting, no comments or trailing commas).
    /// </summary>
    private static bool TryRead(string path, out RuntimeOptions? options)
    {
        options = null;
        if (!File.Exists(path))
        {
            // The usual case (plugins have no runtimeconfig.json, builds no dev file): no exception thrown and caught.
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Null)
            {
                // Deserializes to no configuration at all.
                return false;
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            JsonElement? runtimeOptions = null;
            foreach (var property in root.EnumerateObject())
            {
                if (property.NameEquals("runtimeOptions"))
                {
                    runtimeOptions = property.Value;
                }
            }

            if (runtimeOptions is not { ValueKind: not JsonValueKind.Null } value)
            {
                return true;
            }

            if (value.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            string? tfm = null;
            string?[]? probingPaths = null;
            foreach (var property in value.EnumerateObject())
            {
                if (property.NameEquals("tfm"))
                {
                    tfm = property.Value.ValueKind switch
                    {
                        JsonValueKind.Null => null,
                        JsonValueKind.String => property.Value.GetString(),
                        _ => throw new JsonException("tfm is not a string"),
                    };
                }
                else if (property.NameEquals("additionalProbingPaths"))
                {
                    probingPaths = property.Value.ValueKind switch
                    {
                        JsonValueKind.Null => null,
                        JsonValueKind.Array => [.. property.Value.EnumerateArray().Select(PathOrNull)],
                        _ => throw new JsonException("additionalProbingPaths is not an array"),
                    };
                }
            }

            options = new RuntimeOptions(tfm, probingPaths);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static string? PathOrNull(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => element.GetString(),
        _ => throw new JsonException("a probing path is not a string"),
    };

    private sealed record RuntimeOptions(string? Tfm, string?[]? AdditionalProbingPaths);
}
