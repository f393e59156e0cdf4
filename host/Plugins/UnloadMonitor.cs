using System.Runtime.CompilerServices;

namespace PluginHost.Plugins;

/// <summary>
/// Confirms that unloaded plugin contexts are really collected, for all of them together: while any is pending
/// it asks for one background full collection per interval (requests keep running while it marks; a context's
/// cleanup needs two collections with its finalizer in between), so a burst of swaps shares its collections
/// instead of forcing its own per plugin. Collections wait until unloads have been quiet for
/// <paramref name="settle"/> (or the oldest pending context has waited three times that): during a storm of
/// swaps, a rebuild loop, they would otherwise run several times a second on the cores serving requests.
/// Only a context still alive at its deadline gets blocking collections, so that nothing is called leaked too early.
/// </summary>
internal sealed class UnloadMonitor(TimeSpan timeout, TimeSpan interval, TimeSpan settle, CancellationToken stopping)
{
    private readonly List<Pending> _pending = [];
    private bool _running;
    private DateTime _lastUnload;

    /// <summary>
    /// Completes with true once <paramref name="context"/> is collected, false if it is still alive at the deadline;
    /// cancelled when the host shuts down first.
    /// </summary>
    public Task<bool> WatchAsync(WeakReference context)
    {
        var now = DateTime.UtcNow;
        var pending = new Pending(context, now, now + timeout);
        lock (_pending)
        {
            _lastUnload = now;
            _pending.Add(pending);
            if (!_running)
            {
                _running = true;
                _ = Task.Run(RunAsync, CancellationToken.None);
            }
        }

        return pending.Done.Task;
    }

    private async Task RunAsync()
    {
        while (true)
        {
            Pending[] batch;
            lock (_pending)
            {
                if (_pending.Count == 0)
                {
                    _running = false;
                    return;
                }

                batch = [.. _pending];
            }

            if (stopping.IsCancellationRequested)
            {
                // Shutting down: nobody needs the verdict, and forcing collections would only delay the exit.
                foreach (var item in batch)
                {
                    item.Done.TrySetCanceled(stopping);
                }

                lock (_pending)
                {
                    _pending.Clear();
                    _running = false;
                }

                return;
            }

            var now = DateTime.UtcNow;
            DateTime lastUnload;
            lock (_pending)
            {
                lastUnload = _lastUnload;
            }

            var anyAlive = false;
            foreach (var item in batch)
            {
                bool? collected = !IsAlive(item.Context) ? true
                    : now >= item.Deadline ? !IsAliveAfterBlockingCollections(item.Context)
                    : null;
                if (collected is { } result)
                {
                    lock (_pending)
                    {
                        _pending.Remove(item);
                    }

                    item.Done.TrySetResult(result);
                }
                else
                {
                    anyAlive = true;
                }
            }

            if (anyAlive)
            {
                if (now - lastUnload >= settle || now - batch.Min(p => p.Unloaded) >= 3 * settle)
                {
                    GC.Collect(2, GCCollectionMode.Forced, blocking: false, compacting: false);
                }

                try
                {
                    await Task.Delay(interval, stopping);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool IsAlive(WeakReference context) => context.IsAlive;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool IsAliveAfterBlockingCollections(WeakReference context)
    {
        for (var i = 0; i < 3 && context.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return context.IsAlive;
    }

    private sealed record Pending(WeakReference Context, DateTime Unloaded, DateTime Deadline)
    {
        public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
