using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using PluginHost.Configuration;

namespace PluginHost.Plugins;

/// <summary>What <see cref="PluginAdmission"/> decided for an assembly.</summary>
internal enum AdmissionVerdict
{
    /// <summary>Mapped and allowed: load it.</summary>
    Load,

    /// <summary>No <c>custom_provider_map</c> entry names it: never loaded, only listed from its metadata.</summary>
    Unmapped,

    /// <summary>Mapped, but the trust settings do not allow it (or one of its dependencies): never loaded.</summary>
    Refused,
}

/// <summary>
/// Whether a plugin assembly may be loaded for execution, and why not.
/// </summary>
/// <param name="Verdict">Load, unmapped or refused.</param>
/// <param name="Sha256">The full lowercase hex SHA-256 of the bytes decided on (what <c>allowed_plugin_sha256</c> lists).</param>
/// <param name="Reason">Why it is refused (a sentence naming the file and the hash to allow); null otherwise.</param>
/// <param name="Dependencies">
/// With trust enforced, the managed dependencies beside a folder plugin, as read and checked: the loader loads these
/// bytes (not the files again), so what runs is what was checked.
/// </param>
internal sealed record Admission(AdmissionVerdict Verdict, string Sha256, string? Reason, IReadOnlyList<CheckedAssembly> Dependencies)
{
    /// <summary>
    /// Whether the trust settings were enforced: the plugin then runs from a <see cref="TrustedCopy"/> of what was
    /// checked (<see cref="Checked"/>), never from its folder.
    /// </summary>
    public bool Enforced { get; init; }

    /// <summary>With trust enforced, every code file of a folder plugin other than the plugin itself (managed or native, in sub-folders too), as read and checked.</summary>
    public IReadOnlyList<CheckedAssembly> Checked { get; init; } = [];

    /// <summary>Where the plugin is loaded from when not from its own path: its assembly in its <see cref="TrustedCopy"/>.</summary>
    public string? LoadPath { get; init; }

    /// <summary>The <see cref="TrustedCopy"/> directory the plugin runs from, deleted when the version is unloaded.</summary>
    public string? CopyDirectory { get; init; }
}

/// <summary>A dependency assembly's bytes as checked, and where they were read.</summary>
internal sealed record CheckedAssembly(string Path, byte[] Content);

/// <summary>
/// The one place that decides whether plugin code may run, before anything of it is loaded (no module initializer,
/// no static constructor runs for an assembly it does not admit). Called by <see cref="PluginFolder.Load"/> for every
/// plugin file on every reload, with the bytes that will be loaded; a worker process loading a plugin out of process
/// calls it the same way.
/// </summary>
/// <remarks>
/// The rules:
/// <list type="bullet">
/// <item>An assembly no <c>custom_provider_map</c> entry names is <see cref="AdmissionVerdict.Unmapped"/>.</item>
/// <item>Without <c>allowed_plugin_sha256</c> and <c>trusted_plugin_keys</c>, a mapped one loads (write access to the
/// plugins folder is then code execution in the proxy).</item>
/// <item>With either, a mapped one loads only when its SHA-256 is listed, or <c>Name.dll.sig</c> beside it verifies with
/// a trusted key. For a folder plugin (<c>plugins/Name/Name.dll</c>) every other code file in that folder and its
/// sub-folders (<see cref="TrustedCopy.IsCode"/>: managed assemblies and native libraries) must pass the same test (a
/// hash listed, or its own <c>.sig</c>); otherwise the plugin is refused, naming the file.</item>
/// <item>What is admitted that way runs from a <see cref="TrustedCopy"/> written from the checked bytes, so a file
/// changed in the plugins folder after the check is never what a later load (a lazy dependency, a native library)
/// reads.</item>
/// </list>
/// </remarks>
internal static class PluginAdmission
{
    private const string SdkName = "PluginHost.Sdk";

    /// <summary>Decides for <paramref name="file"/>, whose bytes (exactly those that would be loaded) are <paramref name="content"/>.</summary>
    public static Admission Decide(PluginFile file, ReadOnlySpan<byte> content, ProxyConfig config)
    {
        var sha256 = PluginSignature.Sha256(content);
        if (!config.Providers.Any(p => p.Handler.Assembly == file.Name))
        {
            return new Admission(AdmissionVerdict.Unmapped, sha256, null, []);
        }

        var trust = config.Trust;
        if (!trust.Enforced)
        {
            return new Admission(AdmissionVerdict.Load, sha256, null, []);
        }

        if (NotAllowed(file.Path, content, sha256, trust) is { } why)
        {
            return new Admission(AdmissionVerdict.Refused, sha256, $"not allowed to run: {why}. {HowToAllow(file.Path, sha256)}", []);
        }

        if (file.Folder is null)
        {
            return new Admission(AdmissionVerdict.Load, sha256, null, []) { Enforced = true };
        }

        var dependencies = new List<CheckedAssembly>();
        var checkedFiles = new List<CheckedAssembly>();
        foreach (var path in Directory.EnumerateFiles(file.Folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (string.Equals(Path.GetFullPath(path), file.Path, StringComparison.Ordinal))
            {
                continue;
            }

            byte[] bytes;
            try
            {
                if (!TrustedCopy.IsCode(path))
                {
                    continue;
                }

                bytes = File.ReadAllBytes(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return new Admission(AdmissionVerdict.Refused, sha256, $"its dependency {path} cannot be read to check it: {ex.Message}", []);
            }

            var dependencySha256 = PluginSignature.Sha256(bytes);
            if (NotAllowed(path, bytes, dependencySha256, trust) is { } dependencyWhy)
            {
                return new Admission(AdmissionVerdict.Refused, sha256, $"its dependency {path} (SHA-256 {dependencySha256}) is not allowed to run: {dependencyWhy}. {HowToAllow(path, dependencySha256)}", []);
            }

            var checkedFile = new CheckedAssembly(Path.GetFullPath(path), bytes);
            checkedFiles.Add(checkedFile);
            if (Path.GetDirectoryName(checkedFile.Path) == file.Folder && IsPreloadable(bytes))
            {
                dependencies.Add(checkedFile);
            }
        }

        return new Admission(AdmissionVerdict.Load, sha256, null, dependencies) { Enforced = true, Checked = checkedFiles };
    }

    /// <summary>Null when <paramref name="content"/> is allowed by <paramref name="trust"/>; otherwise why not.</summary>
    private static string? NotAllowed(string path, ReadOnlySpan<byte> content, string sha256, PluginTrust trust)
    {
        if (trust.AllowedSha256.Contains(sha256))
        {
            return null;
        }

        var listed = trust.AllowedSha256.Count > 0 ? "its SHA-256 is not in general_settings.allowed_plugin_sha256" : null;
        if (trust.TrustedKeys.Count == 0)
        {
            return listed;
        }

        var signaturePath = path + PluginSignature.Extension;
        string signature;
        try
        {
            signature = File.ReadAllText(signaturePath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Join(listed, $"it has no readable signature {Path.GetFileName(signaturePath)}");
        }

        foreach (var key in trust.TrustedKeys)
        {
            if (PluginSignature.Verify(content, signature, key.SubjectPublicKeyInfo))
            {
                return null;
            }
        }

        return Join(listed, $"{Path.GetFileName(signaturePath)} does not verify with any key in general_settings.trusted_plugin_keys (the file changed after signing, or another key signed it)");

        static string Join(string? first, string second) => first is null ? second : $"{first}, and {second}";
    }

    private static string HowToAllow(string path, string sha256) =>
        $"To allow it, add {sha256} to general_settings.allowed_plugin_sha256, or sign it with a trusted key (pluginhost sign --key KEY.pem {path})";

    /// <summary>
    /// A managed assembly other than the SDK (the SDK always comes from the host, so that <c>CustomLlm</c> is one type):
    /// native libraries are checked too, and the loader finds them in the version's <see cref="TrustedCopy"/> when needed.
    /// </summary>
    private static bool IsPreloadable(byte[] bytes)
    {
        try
        {
            using var pe = new PEReader(new MemoryStream(bytes, writable: false));
            if (!pe.HasMetadata)
            {
                return false;
            }

            var metadata = pe.GetMetadataReader();
            return metadata.IsAssembly && !metadata.StringComparer.Equals(metadata.GetAssemblyDefinition().Name, SdkName);
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }
}
