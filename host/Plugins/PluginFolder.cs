using System.Diagnostics;
using System.Reflection.PortableExecutable;
using PluginHost.Configuration;
using PluginHost.Telemetry;

namespace PluginHost.Plugins;

/// <summary>
/// Reads the plugins folder into the plugin versions to serve. Each assembly is read once, validated and hashed: an
/// unchanged one keeps its loaded version; a new or changed one is loaded beside it and the handlers the configuration
/// maps to it are created, so a version whose constructor throws is rejected before it serves anything. A version that
/// fails leaves the one before it serving.
/// </summary>
/// <param name="directory">The plugins folder.</param>
/// <param name="constructorTimeout">How long a handler's constructor may run.</param>
/// <param name="nextGeneration">Numbers each loaded version.</param>
/// <param name="retirement">Unloads a version that was loaded and then rejected.</param>
/// <param name="logger">Where loads and ignored files are reported.</param>
/// <param name="metrics">Where load durations are counted.</param>
internal sealed class PluginFolder(string directory, TimeSpan constructorTimeout, Func<long> nextGeneration, PluginRetirement retirement, ILogger logger, PluginHostMetrics metrics)
{
    // The file versions refused at the last load ("name sha256"), so each refusal is counted once, not on every reload.
    private HashSet<string> _refused = [];

    /// <summary>
    /// The plugins in the folder now, reusing <paramref name="current"/> versions whose file did not change. A new
    /// version gets the handlers <paramref name="config"/> maps to it before it is accepted.
    /// </summary>
    public PluginSet Load(IReadOnlyList<LoadedPlugin> current, ProxyConfig config)
    {
        var problems = new List<string>();
        var files = PluginFile.Scan(directory, problems);
        var plugins = new List<LoadedPlugin>(files.Count);
        var failures = new List<PluginFailure>();
        var kept = new HashSet<string>(StringComparer.Ordinal);
        var available = new List<PluginListing>();
        var transient = false;
        var refusedNow = new HashSet<string>(StringComparer.Ordinal);
        foreach (var problem in problems)
        {
            Log.PluginIgnored(logger, problem);
        }

        foreach (var file in files)
        {
            var old = current.FirstOrDefault(p => p.Name == file.Name);
            byte[] content;
            Admission admission;
            try
            {
                content = ReadAndValidate(file.Path);

                // Before anything of it is loaded: an unmapped or refused assembly is only listed, from its metadata.
                admission = PluginAdmission.Decide(file, content, config);
            }
            catch (Exception ex)
            {
                // Usually a file still being written (PEReader throws several kinds on a partial image):
                // keep what serves now and try again.
                transient = true;
                Fail(file, old, $"cannot read a complete assembly yet: {ex.Message}");
                continue;
            }

            if (admission.Verdict == AdmissionVerdict.Refused && old?.AdmittedUnder == config.Trust.Fingerprint)
            {
                // A replacement that is not allowed, under the same trust settings that admitted the version serving:
                // that version keeps serving (as after any failed replacement) until the new file is allowed.
                Refused(file, admission);
                Fail(file, old, $"refused (SHA-256 {admission.Sha256}): {admission.Reason}. The version before it keeps serving.");
                continue;
            }

            if (admission.Verdict != AdmissionVerdict.Load)
            {
                NotLoaded(file, content, admission);
                continue;
            }

            var hash = admission.Sha256[..16];
            var isolation = IsolationOf(file.Name, config);
            // Unchanged: it keeps serving, unless trust is now enforced and it does not yet run from a checked copy.
            if (old is not null && old.ContentHash == hash && old.File.Path == file.Path && old.Isolation == isolation && (old.CopyDirectory is not null || !admission.Enforced))
            {
                old.AdmittedUnder = config.Trust.Fingerprint;
                plugins.Add(old);
                continue;
            }

            LoadedPlugin? loaded = null;
            var span = HostSpans.StartPluginLoad(file);
            var started = Stopwatch.GetTimestamp();
            try
            {
                // Before loading anything of it: a plugin built against an SDK this host cannot serve is refused here,
                // with what it needs, rather than failing on a request later. (Unreadable metadata throws, as below.)
                if (SdkCompatibility.Check(content, SdkCompatibility.HostSdk) is { } incompatible)
                {
                    var refused = $"refused: {incompatible}";
                    metrics.PluginLoaded(file.Name, Stopwatch.GetElapsedTime(started), ok: false);
                    HostSpans.EndPluginLoad(span, null, refused);
                    Fail(file, old, refused);
                    continue;
                }

                // With trust enforced, the version runs from a copy of what was checked (TrustedCopy). An isolated plugin
                // is never loaded here: its worker loads the same bytes, checked by their SHA-256.
                var generation = nextGeneration();
                if (admission.Enforced)
                {
                    admission = TrustedCopy.Write(file, content, admission, generation);
                }

                loaded = isolation is null
                    ? LoadedPlugin.Load(file, content, admission, generation, constructorTimeout, warmUp: old is not null)
                    : LoadedPlugin.Isolate(file, admission, generation, isolation, constructorTimeout, logger, metrics);
                CreateHandlers(loaded, config, mustResolve: old is not null);
                loaded.AdmittedUnder = config.Trust.Fingerprint;
                var elapsed = Stopwatch.GetElapsedTime(started);
                Log.PluginLoaded(logger, file.Name, loaded.Version ?? "?", loaded.Generation, file.Path, elapsed.TotalMilliseconds);
                metrics.PluginLoaded(file.Name, elapsed, ok: true);
                HostSpans.EndPluginLoad(span, loaded, error: null);
                plugins.Add(loaded);
            }
            catch (Exception ex)
            {
                transient |= ex is IOException or BadImageFormatException;
                var error = Describe(ex);
                metrics.PluginLoaded(file.Name, Stopwatch.GetElapsedTime(started), ok: false);
                HostSpans.EndPluginLoad(span, loaded, error);
                Fail(file, old, error);
                if (loaded is not null)
                {
                    retirement.Retire(loaded);
                }
                else if (admission.CopyDirectory is { } copy)
                {
                    TrustedCopy.Delete(copy);
                }
            }
        }

        _refused = refusedNow;
        return new PluginSet(directory, plugins, failures, kept, transient) { Available = available };

        void Refused(PluginFile file, Admission admission)
        {
            Log.PluginRefused(logger, file.Name, file.Path, admission.Sha256, admission.Reason!);
            var version = $"{file.Name} {admission.Sha256}";
            refusedNow.Add(version);
            if (!_refused.Contains(version))
            {
                metrics.PluginRefused(file.Name);
            }
        }

        // Listed, never loaded: neither the old version (if any) nor this one serves. (An old version refused along with
        // its replacement was admitted under other trust settings: they no longer allow it.)
        void NotLoaded(PluginFile file, byte[] content, Admission admission)
        {
            IReadOnlyList<string> handlers;
            try
            {
                handlers = HandlerMetadata.HandlerTypes(content, file.Folder);
            }
            catch (BadImageFormatException)
            {
                handlers = [];
            }

            var refused = admission.Verdict == AdmissionVerdict.Refused;
            available.Add(new PluginListing(file.Name, file.Path, refused ? PluginListing.Refused : PluginListing.Unmapped, admission.Sha256, admission.Reason, handlers));
            if (refused)
            {
                Refused(file, admission);
                failures.Add(new PluginFailure(file.Name, file.Path, $"refused (SHA-256 {admission.Sha256}): {admission.Reason}", DateTimeOffset.UtcNow));
            }
        }

        void Fail(PluginFile file, LoadedPlugin? old, string error)
        {
            failures.Add(new PluginFailure(file.Name, file.Path, error, DateTimeOffset.UtcNow));
            if (old is not null)
            {
                old.KeepServing(error);
                plugins.Add(old);
                kept.Add(file.Name);
            }
        }
    }

    /// <summary>
    /// Creates every handler <paramref name="config"/> maps to in <paramref name="plugins"/> that does not exist yet (a
    /// configuration naming another type of an unchanged plugin). A constructor that throws fails that handler only:
    /// the set reports it, and its models answer 503.
    /// </summary>
    public static PluginSet CreateHandlers(PluginSet plugins, ProxyConfig config)
    {
        List<PluginFailure>? failures = null;
        Dictionary<string, string>? errors = null;
        foreach (var plugin in plugins.Plugins)
        {
            foreach (var (name, type) in MappedHandlers(plugin, config, mustResolve: false))
            {
                if (plugin.TryGetHandler(type, out _) || errors?.ContainsKey(type) == true)
                {
                    continue;
                }

                try
                {
                    plugin.GetHandler(type);
                }
                catch (Exception ex)
                {
                    (errors ??= []).Add(type, ex.Message);
                    (failures ??= [.. plugins.Failures]).Add(new PluginFailure(plugin.Name, plugin.File.Path, $"handler '{name}' cannot be created: {ex.Message}", DateTimeOffset.UtcNow));
                }
            }
        }

        return errors is null ? plugins : plugins with { Failures = failures!, HandlerErrors = errors };
    }

    /// <summary>
    /// Creates the handlers the configuration maps to a new version, so a throwing constructor (or, for a replacement,
    /// a handler type that disappeared) rejects it before it serves anything.
    /// </summary>
    private static void CreateHandlers(LoadedPlugin plugin, ProxyConfig config, bool mustResolve)
    {
        foreach (var (_, type) in MappedHandlers(plugin, config, mustResolve))
        {
            plugin.GetHandler(type);
        }
    }

    /// <summary>
    /// The handler types <paramref name="config"/> maps to <paramref name="plugin"/>, each with the name that maps it. A
    /// name that matches no type is left to the snapshot to report, unless <paramref name="mustResolve"/>: then it throws.
    /// </summary>
    private static IEnumerable<(HandlerName Name, string Type)> MappedHandlers(LoadedPlugin plugin, ProxyConfig config, bool mustResolve)
    {
        foreach (var mapping in config.Providers)
        {
            if (mapping.Handler.Assembly != plugin.Name)
            {
                continue;
            }

            var type = plugin.FindHandler(mapping.Handler.Type, out var problem);
            if (type is not null)
            {
                yield return (mapping.Handler, type);
            }
            else if (mustResolve)
            {
                throw new InvalidOperationException($"custom_handler '{mapping.Handler}' is not in the new version: {problem}");
            }
        }
    }

    /// <summary>
    /// Reads the assembly once and checks it is a complete .NET image: the same bytes are then admitted (hashed,
    /// checked against the trust settings) and loaded, so the version that serves is the one that was validated, even
    /// if the file changes again meanwhile.
    /// </summary>
    private static byte[] ReadAndValidate(string path)
    {
        byte[] content;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            content = new byte[stream.Length];
            stream.ReadExactly(content);
        }

        using (var pe = new PEReader(new MemoryStream(content, writable: false)))
        {
            if (!pe.HasMetadata)
            {
                throw new BadImageFormatException("the file is not a .NET assembly");
            }

            // Reads every section: a truncated file fails here rather than half-way through loading.
            _ = pe.GetEntireImage().Length;
            _ = pe.GetMetadata().Length;
        }

        return content;
    }

    /// <summary>How the configuration runs the assembly <paramref name="name"/>: in a worker process (its settings), or here (null).</summary>
    private static WorkerSettings? IsolationOf(string name, ProxyConfig config) =>
        config.Providers.FirstOrDefault(p => p.Handler.Assembly == name)?.Worker;

    private static string Describe(Exception ex) => ex switch
    {
        BadImageFormatException => $"not a loadable .NET assembly: {ex.Message}",
        FileNotFoundException { FileName: { } missing } => $"a dependency is missing: {missing}",
        FileLoadException => $"cannot load: {ex.Message}",
        _ => ex.Message,
    };
}
