using PluginHost.Configuration;

namespace PluginHost.Plugins;

/// <summary>
/// What <c>pluginhost keygen</c>, <c>pluginhost sign</c> and <c>pluginhost hash</c> do (declared in
/// <see cref="HostCommandLine"/>): make a signing key pair, sign plugin assemblies with it, print their SHA-256.
/// A failure throws <see cref="ToolCommandException"/> with one line saying what.
/// </summary>
internal static class SigningCommands
{
    /// <summary>Writes a new ECDSA P-256 key pair: <c>PREFIX.pem</c> (private, readable by its owner only) and <c>PREFIX.pub.pem</c>.</summary>
    public static void KeyGen(string prefix, TextWriter output)
    {
        var privatePath = Path.GetFullPath(prefix + ".pem");
        var publicPath = Path.GetFullPath(prefix + ".pub.pem");
        foreach (var path in new[] { privatePath, publicPath })
        {
            if (File.Exists(path))
            {
                throw new ToolCommandException($"keygen: {path} exists; it is not overwritten (a key pair in use would be lost). Choose another --out.");
            }
        }

        var (privatePem, publicPem) = PluginSignature.NewKeyPair();
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var writer = new StreamWriter(privatePath, options))
            {
                writer.Write(privatePem + "\n");
            }

            File.WriteAllText(publicPath, publicPem + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ToolCommandException($"keygen: cannot write the key pair: {ex.Message}");
        }

        output.WriteLine($"Private key: {privatePath} (keep it secret; sign with: pluginhost sign --key {privatePath} PLUGIN.dll)");
        output.WriteLine($"Public key:  {publicPath} (list it in general_settings.trusted_plugin_keys)");
    }

    /// <summary>Signs each of <paramref name="files"/> with the PEM private key at <paramref name="keyPath"/>, writing <c>FILE.sig</c> beside it.</summary>
    public static void Sign(string keyPath, IReadOnlyList<string> files, TextWriter output)
    {
        string key;
        try
        {
            key = File.ReadAllText(keyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ToolCommandException($"sign: cannot read the key --key {keyPath}: {ex.Message}");
        }

        foreach (var file in files)
        {
            var content = Read("sign", file);
            string signature;
            try
            {
                signature = PluginSignature.Sign(content, key);
            }
            catch (ArgumentException ex)
            {
                throw new ToolCommandException($"sign: --key {keyPath} is {ex.Message}.");
            }

            var signaturePath = file + PluginSignature.Extension;
            try
            {
                File.WriteAllText(signaturePath, signature);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new ToolCommandException($"sign: cannot write {signaturePath}: {ex.Message}");
            }

            output.WriteLine($"{PluginSignature.Sha256(content)}  {file} -> {signaturePath}");
        }
    }

    /// <summary>Prints each file's SHA-256 as <c>sha256sum</c> does (hash, two spaces, file): the hash is what <c>allowed_plugin_sha256</c> lists.</summary>
    public static void Hash(IReadOnlyList<string> files, TextWriter output)
    {
        foreach (var file in files)
        {
            output.WriteLine($"{PluginSignature.Sha256(Read("hash", file))}  {file}");
        }
    }

    private static byte[] Read(string command, string file)
    {
        try
        {
            return File.ReadAllBytes(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ToolCommandException($"{command}: cannot read {file}: {ex.Message}");
        }
    }
}
