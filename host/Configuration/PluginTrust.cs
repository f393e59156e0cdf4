using System.Security.Cryptography;

namespace PluginHost.Configuration;

/// <summary>
/// What plugin code may run (<c>general_settings.allowed_plugin_sha256</c> and <c>general_settings.trusted_plugin_keys</c>).
/// With neither set, every mapped plugin loads, as before: whoever can write into the plugins folder runs code in the
/// proxy. With either set, an assembly loads only when its SHA-256 is listed or a detached signature beside it
/// (<c>Name.dll.sig</c>, made by <c>pluginhost sign</c>) verifies with one of the keys.
/// </summary>
/// <param name="AllowedSha256">Lowercase hex SHA-256 hashes of assemblies allowed to load.</param>
/// <param name="TrustedKeys">Public keys (ECDSA P-256) whose signatures are trusted.</param>
internal sealed record PluginTrust(IReadOnlySet<string> AllowedSha256, IReadOnlyList<TrustedKey> TrustedKeys)
{
    /// <summary>No keys set: every mapped plugin loads.</summary>
    public static PluginTrust None { get; } = new(new HashSet<string>(StringComparer.Ordinal), []);

    /// <summary>Whether anything is checked at all.</summary>
    public bool Enforced => AllowedSha256.Count > 0 || TrustedKeys.Count > 0;

    /// <summary>
    /// The settings' content as one string (the hashes and keys, sorted): equal for two configurations that allow the
    /// same code, so a reload can tell whether what it admitted before still holds.
    /// </summary>
    public string Fingerprint { get; } = string.Join(
        '\n',
        AllowedSha256.Order(StringComparer.Ordinal).Concat(TrustedKeys.Select(k => Convert.ToBase64String(k.SubjectPublicKeyInfo)).Order(StringComparer.Ordinal)));
}

/// <summary>A trusted signing key: its public key (SubjectPublicKeyInfo, DER) and where the configuration gave it.</summary>
internal sealed record TrustedKey(string Source, byte[] SubjectPublicKeyInfo)
{
    /// <summary>Reads a PEM public key (<c>-----BEGIN PUBLIC KEY-----</c>, as <c>pluginhost keygen</c> writes) of an ECDSA P-256 key.</summary>
    /// <exception cref="ArgumentException">The text is not such a key; the message says why.</exception>
    public static TrustedKey FromPem(string source, string pem)
    {
        using var key = Plugins.PluginSignature.ImportP256(pem, "public");
        return new TrustedKey(source, key.ExportSubjectPublicKeyInfo());
    }
}
