using System.Buffers.Binary;

namespace PluginHost.Plugins;

/// <summary>
/// With plugin trust enforced, each plugin version runs from a private copy of its files, written from the bytes
/// <see cref="PluginAdmission"/> checked: the load context resolves its dependencies, <c>runtimes/RID/…</c> assemblies
/// and native libraries there, when it first needs them, so a file changed in the plugins folder after the check is
/// never what runs. Code files that were not checked (one that appeared after the check) are left out; other files
/// (<c>.deps.json</c>, <c>.runtimeconfig.json</c>, data) are copied as they are.
/// </summary>
/// <remarks>
/// The copies live in <c>TMP/pluginhost-PID-trusted/Name.GENERATION.N/</c>, readable by the proxy's user only, and go
/// when their version is unloaded (every version is unloaded when the proxy stops); those of a proxy that was killed
/// are swept by the next one.
/// </remarks>
internal static class TrustedCopy
{
    private const UnixFileMode UserOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"pluginhost-{Environment.ProcessId}-trusted");
    private static long _copies;

    /// <summary>
    /// Writes the copy of <paramref name="file"/> (its own bytes <paramref name="content"/>) for version
    /// <paramref name="generation"/>; returns <paramref name="admission"/> pointing into it (<see cref="Admission.LoadPath"/>,
    /// <see cref="Admission.CopyDirectory"/>, its dependencies' paths).
    /// </summary>
    public static Admission Write(PluginFile file, byte[] content, Admission admission, long generation)
    {
        if (!Directory.Exists(Root))
        {
            SweepStale();
        }

        CreatePrivate(Root);
        // Numbered per process, not by generation alone: several proxies in one process (the tests) each count their own.
        var directory = Path.Combine(Root, $"{file.Name}.{generation}.{Interlocked.Increment(ref _copies)}");
        CreatePrivate(directory);
        try
        {
            var source = file.Folder ?? Path.GetDirectoryName(file.Path)!;
            var checkedFiles = admission.Checked.ToDictionary(c => c.Path, StringComparer.Ordinal);
            foreach (var path in Companions(file))
            {
                var target = Path.Combine(directory, Path.GetRelativePath(source, path));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                if (checkedFiles.TryGetValue(path, out var checkedFile))
                {
                    File.WriteAllBytes(target, checkedFile.Content);
                }
                else if (!IsCode(path))
                {
                    File.Copy(path, target);
                }
            }

            var loadPath = Path.Combine(directory, Path.GetRelativePath(source, file.Path));
            File.WriteAllBytes(loadPath, content);
            return admission with
            {
                LoadPath = loadPath,
                CopyDirectory = directory,
                Dependencies = [.. admission.Dependencies.Select(d => d with { Path = Path.Combine(directory, Path.GetRelativePath(source, d.Path)) })],
            };
        }
        catch
        {
            Delete(directory);
            throw;
        }
    }

    /// <summary>Removes a copy whose version is unloaded (a file still in use stays until the proxy stops).</summary>
    public static void Delete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Removes the copies of proxies that are gone (killed before they could remove their own).</summary>
    private static void SweepStale()
    {
        try
        {
            foreach (var stale in Directory.EnumerateDirectories(Path.GetTempPath(), "pluginhost-*-trusted"))
            {
                var name = Path.GetFileName(stale);
                if (int.TryParse(name["pluginhost-".Length..^"-trusted".Length], out var pid) && pid != Environment.ProcessId && !IsRunning(pid))
                {
                    Directory.Delete(stale, recursive: true);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        static bool IsRunning(int pid)
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                return !process.HasExited;
            }
            catch (ArgumentException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Whether a file is code the runtime could load: a managed assembly or native library by its name (<c>.dll</c>,
    /// <c>.exe</c>, <c>.so</c>, <c>.so.N</c>, <c>.dylib</c>) or by its first bytes (PE, ELF, Mach-O), whatever its name.
    /// </summary>
    public static bool IsCode(string path)
    {
        var name = Path.GetFileName(path);
        if (name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".exe", StringComparison.OrdinalIgnoreCase)
            || name.EndsWith(".so", StringComparison.Ordinal) || name.Contains(".so.", StringComparison.Ordinal)
            || name.EndsWith(".dylib", StringComparison.Ordinal))
        {
            return true;
        }

        Span<byte> head = stackalloc byte[4];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (read >= 2 && head[0] == 'M' && head[1] == 'Z')
        {
            return true;
        }

        // ELF, then Mach-O in either byte order, thin or fat.
        return read == 4 && BinaryPrimitives.ReadUInt32BigEndian(head) is 0x7F454C46 or 0xFEEDFACE or 0xFEEDFACF or 0xCEFAEDFE or 0xCFFAEDFE or 0xCAFEBABE or 0xBEBAFECA;
    }

    /// <summary>The files that go with the plugin: all of its folder, or for <c>plugins/Name.dll</c> only its own <c>Name.*</c> files.</summary>
    private static IEnumerable<string> Companions(PluginFile file)
    {
        if (file.Folder is { } folder)
        {
            return Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Select(Path.GetFullPath)
                .Where(p => p != file.Path && !p.EndsWith(PluginSignature.Extension, StringComparison.Ordinal));
        }

        var stem = Path.ChangeExtension(file.Path, null);
        return new[] { ".deps.json", ".runtimeconfig.json", ".runtimeconfig.dev.json", ".pdb" }.Select(e => stem + e).Where(File.Exists);
    }

    private static void CreatePrivate(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UserOnly);
        }
    }
}
