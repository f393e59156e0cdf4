using System.Security.Cryptography;

namespace PluginHost.Plugins;

/// <summary>
/// Detached signatures of plugin assemblies: ECDSA P-256 over SHA-256 of the file's bytes, written beside it as
/// <c>Name.dll.sig</c> (the DER signature, base64, one line). <c>pluginhost keygen</c>, <c>sign</c> and <c>hash</c>
/// use it; <see cref="PluginAdmission"/> verifies with it.
/// </summary>
internal static class PluginSignature
{
    /// <summary>What a signature file's name adds to the signed file's.</summary>
    public const string Extension = ".sig";

    private const DSASignatureFormat Format = DSASignatureFormat.Rfc3279DerSequence;

    /// <summary>The lowercase hex SHA-256 of <paramref name="content"/>, as <c>allowed_plugin_sha256</c> lists it.</summary>
    public static string Sha256(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>A new key pair: the private key as PKCS#8 PEM, the public key as SubjectPublicKeyInfo PEM.</summary>
    public static (string PrivatePem, string PublicPem) NewKeyPair()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return (key.ExportPkcs8PrivateKeyPem(), key.ExportSubjectPublicKeyInfoPem());
    }

    /// <summary>The signature file's text for <paramref name="content"/>, signed with the PEM private key <paramref name="privatePem"/>.</summary>
    /// <exception cref="ArgumentException">The key is not an ECDSA P-256 private key.</exception>
    public static string Sign(ReadOnlySpan<byte> content, string privatePem)
    {
        using var key = ImportP256(privatePem, "private");
        try
        {
            return Convert.ToBase64String(key.SignData(content, HashAlgorithmName.SHA256, Format)) + "\n";
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException($"cannot sign with it (is it the public key?): {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Reads an ECDSA P-256 key from PEM (<paramref name="kind"/>, <c>public</c> or <c>private</c>, names it in the
    /// message), as <c>pluginhost keygen</c> writes them.
    /// </summary>
    /// <exception cref="ArgumentException">The text is not such a key; the message says why.</exception>
    public static ECDsa ImportP256(string pem, string kind)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new ArgumentException($"not a PEM ECDSA {kind} key: {ex.Message}", ex);
        }

        if (key.KeySize is var bits and not 256)
        {
            key.Dispose();
            throw new ArgumentException($"an ECDSA key of {bits} bits; expected P-256 (pluginhost keygen makes one)");
        }

        return key;
    }

    /// <summary>Whether <paramref name="signatureText"/> (a signature file's text) signs <paramref name="content"/> with <paramref name="subjectPublicKeyInfo"/>.</summary>
    public static bool Verify(ReadOnlySpan<byte> content, string signatureText, byte[] subjectPublicKeyInfo)
    {
        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(signatureText.Trim());
        }
        catch (FormatException)
        {
            return false;
        }

        using var key = ECDsa.Create();
        key.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
        return key.VerifyData(content, signature, HashAlgorithmName.SHA256, Format);
    }
}
