using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using PluginHost.Configuration;
using PluginHost.Sdk;
using PluginHost.Workers;

namespace PluginHost.Plugins;

/// <summary>
/// One version of one plugin assembly, in its own collectible load context, with the handler instances
/// created from it. Requests lease it (<see cref="TryAcquire"/>/<see cref="Release"/>); once retired and
/// drained, its handlers are disposed and its context unloaded. An isolated version (<c>isolation: process</c>)
/// runs in a worker process instead (<see cref="Worker"/>): the proxy never loads it, its handlers are
/// <see cref="RemoteLlm"/>s, and unloading it stops the worker; the lifecycle is the same.
/// </summary>
internal sealed class LoadedPlugin
{
    private readonly Dictionary<string, CustomLlm> _instances = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private AssemblyLoadContext? _context;
    private int _inFlight;
    private volatile bool _retired;

    /// <summary>
    /// A version of <paramref name="file"/> already in <paramref name="context"/>, defining <paramref name="handlerTypes"/>.
    /// <see cref="Load"/> makes one from the file's bytes; tests make one from handler types of their own.
    /// </summary>
    public LoadedPlugin(PluginFile file, string contentHash, long generation, AssemblyLoadContext context, IReadOnlyList<Type> handlerTypes, string? version)
    {
        File = file;
        ContentHash = contentHash;
        Generation = generation;
        _context = context;
        HandlerTypes = handlerTypes;
        Handlers = [.. handlerTypes.Select(t => t.FullName ?? t.Name)];
        Version = version;
        LoadedAt = DateTimeOffset.UtcNow;
        Context = new WeakReference(context, trackResurrection: false);
    }

    /// <summary>A version of <paramref name="file"/> served by <paramref name="worker"/>, a process of its own.</summary>
    private LoadedPlugin(PluginFile file, string contentHash, long generation, PluginWorker worker)
    {
        File = file;
        ContentHash = contentHash;
        Generation = generation;
        Worker = worker;
        HandlerTypes = [];
        Handlers = worker.Handlers;
        Version = worker.Version;
        LoadedAt = DateTimeOffset.UtcNow;
        Context = new WeakReference(null, trackResurrection: false);
    }

    public PluginFile File { get; }

    public string Name => File.Name;

    public string ContentHash { get; }

    /// <summary>The full SHA-256 of the bytes loaded (what <c>allowed_plugin_sha256</c> lists); null for a version tests made from their own types.</summary>
    public string? Sha256 { get; private init; }

    /// <summary>
    /// The <see cref="Configuration.PluginTrust.Fingerprint"/> of the trust settings it was last admitted under: while
    /// they stay the same, a refused replacement leaves this version serving.
    /// </summary>
    public string? AdmittedUnder { get; set; }

    public long Generation { get; }

    public string? Version { get; }

    public DateTimeOffset LoadedAt { get; }

    public DateTimeOffset? RetiredAt { get; private set; }

    /// <summary>The public, concrete <see cref="CustomLlm"/> types the assembly defines (none in the proxy for an isolated version).</summary>
    public IReadOnlyList<Type> HandlerTypes { get; private set; }

    /// <summary>The full names of the handler types the assembly defines, in the proxy or in its worker.</summary>
    public IReadOnlyList<string> Handlers { get; }

    /// <summary>The worker process serving this version, when its configuration says <c>isolation: process</c>.</summary>
    public PluginWorker? Worker { get; }

    /// <summary>How its worker runs, or null for a version loaded into the proxy.</summary>
    public WorkerSettings? Isolation => Worker?.Settings;

    /// <summary>The load context, weakly: alive until the runtime collects it after unload.</summary>
    public WeakReference Context { get; }

    public PluginState State { get; private set; } = PluginState.Active;

    /// <summary>Why its replacement failed while it kept serving, or what keeps it alive after unload.</summary>
    public string? LastError { get; private set; }

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Completes when the plugin is retired and its last request has finished.</summary>
    public Task Drained => _drained.Task;

    /// <summary>How long a handler's constructor may run.</summary>
    public TimeSpan ConstructorTimeout { get; private init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether creating a handler also compiles its methods ahead (<see cref="Prepare"/>): for a version that replaces
    /// one under traffic, so its first requests do not wait for the JIT. A first version (at startup, or a plugin new to
    /// the folder) has no traffic to protect; compiling all its methods would only delay startup, and its first requests
    /// compile just what they call.
    /// </summary>
    public bool WarmUp { get; private init; }

    /// <summary>Where the assembly was loaded from when not from <see cref="File"/>: its <see cref="TrustedCopy"/>.</summary>
    public string? LoadPath { get; private init; }

    /// <summary>The <see cref="TrustedCopy"/> this version runs from (trust enforced), deleted once it is unloaded.</summary>
    public string? CopyDirectory { get; private init; }

    /// <summary>
    /// Loads <paramref name="file"/> from <paramref name="content"/>, its bytes as read and validated (so the file stays
    /// free to be overwritten), with the dependencies <paramref name="admission"/> checked loaded from their checked bytes.
    /// <paramref name="warmUp"/>: see <see cref="WarmUp"/>.
    /// </summary>
    public static LoadedPlugin Load(PluginFile file, byte[] content, Admission admission, long generation, TimeSpan constructorTimeout, bool warmUp = true)
    {
        var (context, assembly) = PluginContexts.Load(admission.LoadPath ?? file.Path, content, admission.Dependencies);
        try
        {
            var types = FindHandlerTypes(assembly);
            var version = assembly.GetName().Version?.ToString();
            return new LoadedPlugin(file, admission.Sha256[..16], generation, context, types, version)
            {
                ConstructorTimeout = constructorTimeout, Sha256 = admission.Sha256, WarmUp = warmUp, LoadPath = admission.LoadPath, CopyDirectory = admission.CopyDirectory,
            };
        }
        catch
        {
            context.Unload();
            throw;
        }
    }

    /// <summary>
    /// Starts a worker process for <paramref name="file"/> that loads exactly the bytes <paramref name="admission"/> decided
    /// on (and the dependencies it checked), by their SHA-256, and waits until it is ready. Throws
    /// <see cref="InvalidOperationException"/> (or <see cref="IOException"/> when a file changed meanwhile) with why it
    /// could not start.
    /// </summary>
    public static LoadedPlugin Isolate(PluginFile file, Admission admission, long generation, WorkerSettings settings, TimeSpan constructorTimeout, ILogger logger, Telemetry.PluginHostMetrics metrics)
    {
        var dependencies = admission.Dependencies.Select(d => new WorkerDependency(d.Path, PluginSignature.Sha256(d.Content))).ToList();
        var worker = PluginWorker.Start(admission.LoadPath is { } copy ? file with { Path = copy } : file, admission.Sha256, dependencies, settings, constructorTimeout, logger, metrics);
        return new(file, admission.Sha256[..16], generation, worker) { Sha256 = admission.Sha256, CopyDirectory = admission.CopyDirectory };
    }

    private static Type[] FindHandlerTypes(Assembly assembly)
    {
        Type[] exported;
        try
        {
            exported = assembly.GetExportedTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            var first = ex.LoaderExceptions.FirstOrDefault(e => e is not null);
            throw new InvalidOperationException($"its types cannot be loaded: {first?.Message ?? ex.Message}", ex);
        }

        return [.. exported.Where(t => t is { IsClass: true, IsAbstract: false } && typeof(CustomLlm).IsAssignableFrom(t)).OrderBy(t => t.FullName, StringComparer.Ordinal)];
    }

    /// <summary>
    /// The full name of the handler type <paramref name="typeName"/> names (full or simple name), or of the only one when null.
    /// </summary>
    public string? FindHandler(string? typeName, out string? problem)
    {
        problem = null;
        if (typeName is null)
        {
            if (Handlers.Count == 1)
            {
                return Handlers[0];
            }

            problem = Handlers.Count == 0
                ? $"{Name} defines no public CustomLlm subclass"
                : $"{Name} defines several handlers; name one as '{Name}:Type' (available: {DescribeHandlers()})";
            return null;
        }

        var matches = Handlers.Where(t => t == typeName || SimpleName(t) == typeName).ToList();
        if (matches.Count == 1)
        {
            return matches[0];
        }

        problem = matches.Count == 0
            ? $"{Name} has no handler type '{typeName}' (available: {DescribeHandlers()})"
            : $"'{typeName}' is ambiguous in {Name}; use the full type name (available: {DescribeHandlers()})";
        return null;
    }

    public string DescribeHandlers() =>
        Handlers.Count == 0 ? "none" : string.Join(", ", Handlers.Select(t => $"{Name}:{t}"));

    /// <summary>A type's name without its namespace (and without its declaring type, for a nested one).</summary>
    private static string SimpleName(string fullName) => fullName[(fullName.LastIndexOfAny(['.', '+']) + 1)..];

    /// <summary>The shared instance of <paramref name="type"/>, created on first use; a throwing constructor throws here.</summary>
    public CustomLlm GetHandler(Type type) => GetHandler(type.FullName ?? type.Name);

    /// <summary>
    /// The shared instance of the handler type named <paramref name="handler"/> (full name), created on first use; a
    /// throwing constructor throws here. For an isolated version the worker creates it, and this is its proxy.
    /// </summary>
    public CustomLlm GetHandler(string handler)
    {
        lock (_instances)
        {
            if (!_instances.TryGetValue(handler, out var instance))
            {
                instance = Worker is { } worker
                    ? new RemoteLlm(worker, worker.CreateHandler(handler))
                    : CreateHandler(HandlerTypes.FirstOrDefault(t => (t.FullName ?? t.Name) == handler) ?? throw new InvalidOperationException($"{Name} has no handler type '{handler}' (available: {DescribeHandlers()})"));
                _instances.Add(handler, instance);
            }

            return instance;
        }
    }

    /// <summary>The instance of the handler type named <paramref name="handler"/> if <see cref="GetHandler(string)"/> created it; creates nothing.</summary>
    public bool TryGetHandler(string handler, [NotNullWhen(true)] out CustomLlm? instance)
    {
        lock (_instances)
        {
            return _instances.TryGetValue(handler, out instance);
        }
    }

    /// <summary>
    /// Runs the handler's constructor on a thread of its own, bounded by <see cref="ConstructorTimeout"/>: a
    /// constructor that never returns fails this version instead of blocking every later reload.
    /// </summary>
    private CustomLlm CreateHandler(Type type)
    {
        if (type.GetConstructor(Type.EmptyTypes) is null)
        {
            throw new InvalidOperationException($"{type.FullName} has no public parameterless constructor");
        }

        var created = new TaskCompletionSource<CustomLlm>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lowered = BackgroundPriority.IsCurrentThreadLowered;
        var thread = new Thread(() =>
        {
            try
            {
                if (lowered)
                {
                    // Built for a reload: at the reload's priority, not the requests'.
                    BackgroundPriority.LowerCurrentThread();
                }

                Prepare(type, compile: WarmUp);
                created.TrySetResult((CustomLlm)Activator.CreateInstance(type)!);
            }
            catch (TypeInitializationException ex) when (ex.InnerException is not null)
            {
                created.TrySetException(new InvalidOperationException($"the static constructor of {ex.TypeName} threw {ex.InnerException.GetType().Name}: {ex.InnerException.Message}", ex.InnerException));
            }
            catch (TargetInvocationException ex) when (ex.InnerException is not null)
            {
                created.TrySetException(new InvalidOperationException($"the constructor of {type.FullName} threw {ex.InnerException.GetType().Name}: {ex.InnerException.Message}", ex.InnerException));
            }
            catch (Exception ex)
            {
                created.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = $"plugin-ctor {Name}",
        };
        thread.Start();
        if (!created.Task.Wait(ConstructorTimeout))
        {
            throw new InvalidOperationException($"the constructor of {type.FullName} did not return within {ConstructorTimeout.TotalSeconds:0.###} s");
        }

        return created.Task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Runs the handler's static constructor and, with <paramref name="compile"/>, compiles its own methods (and those
    /// of the state machines and lambdas nested in it) now, on the constructor's thread, so that the first requests on
    /// this version do not wait for the JIT. A throwing static constructor fails the version here, before it serves
    /// anything. Generic methods, and any method the runtime cannot prepare ahead, compile on first call as usual.
    /// </summary>
    private static void Prepare(Type type, bool compile)
    {
        const BindingFlags Declared = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
        for (var current = type; current is not null && current.Assembly == type.Assembly; current = current.BaseType)
        {
            if (current.ContainsGenericParameters)
            {
                continue;
            }

            RuntimeHelpers.RunClassConstructor(current.TypeHandle);
            if (!compile)
            {
                continue;
            }

            foreach (var owner in current.GetNestedTypes(Declared).Where(t => !t.ContainsGenericParameters).Prepend(current))
            {
                foreach (var method in owner.GetMethods(Declared).Where(m => m is { IsAbstract: false, ContainsGenericParameters: false }))
                {
                    try
                    {
                        RuntimeHelpers.PrepareMethod(method.MethodHandle);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        // Only a head start: whatever cannot be compiled ahead compiles (or fails) on first call.
                    }
                }
            }
        }
    }

    /// <summary>Counts a request in, unless the plugin is already retired (then the caller retries on the new snapshot).</summary>
    public bool TryAcquire()
    {
        Interlocked.Increment(ref _inFlight);
        if (!_retired)
        {
            return true;
        }

        Release();
        return false;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0 && _retired)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Stops new requests; <see cref="Drained"/> completes when the running ones finish.</summary>
    public void Retire()
    {
        if (_retired)
        {
            return;
        }

        RetiredAt = DateTimeOffset.UtcNow;
        State = PluginState.Draining;
        _retired = true;
        if (Volatile.Read(ref _inFlight) == 0)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>A newer file of this plugin failed to load: this version keeps serving and reports why.</summary>
    public void KeepServing(string error) => LastError = error;

    /// <summary>The runtime collected its load context after unload.</summary>
    public void MarkUnloaded() => State = PluginState.Unloaded;

    /// <summary>Its load context is still alive long after unload; <paramref name="reason"/> says what may hold it.</summary>
    public void MarkLeaked(string reason)
    {
        LastError = reason;
        State = PluginState.Leaked;
    }

    /// <summary>Disposes the handlers and unloads the context. Call once, after <see cref="Drained"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public async ValueTask UnloadAsync(Action<Exception> onDisposeError)
    {
        CustomLlm[] handlers;
        lock (_instances)
        {
            handlers = [.. _instances.Values];
            _instances.Clear();
        }

        foreach (var handler in handlers)
        {
            try
            {
                switch (handler)
                {
                    case IAsyncDisposable asyncDisposable:
                        await asyncDisposable.DisposeAsync();
                        break;
                    case IDisposable disposable:
                        disposable.Dispose();
                        break;
                }
            }
            catch (Exception ex)
            {
                onDisposeError(ex);
            }
        }

        HandlerTypes = [];
        Interlocked.Exchange(ref _context, null)?.Unload();
        if (Worker is { } worker)
        {
            await worker.StopAsync();
        }

        if (CopyDirectory is { } copy)
        {
            PluginContexts.Forget(LoadPath);
            TrustedCopy.Delete(copy);
        }

        State = PluginState.Unloading;
    }
}
