using System.IO.Enumeration;

namespace PluginHost.Plugins;

/// <summary>
/// Finds changes by looking, where file system events never arrive (a bind mount, a network share): every
/// interval it lists the plugins folder, subfolders included, and the configuration file, each file with its size
/// and last write time, and calls back when the listing differs from the previous one. What .NET's polling file
/// watcher does, for a whole folder. A rewrite that keeps both the size and the write time goes unseen, as there.
/// </summary>
internal sealed class ChangePoller : IDisposable
{
    private static readonly EnumerationOptions Everything = new()
    {
        RecurseSubdirectories = true,
        IgnoreInaccessible = true,
        AttributesToSkip = 0,
    };

    private readonly string _directory;
    private readonly string _file;
    private readonly Action _changed;
    private readonly Action<Exception> _failed;
    private readonly PeriodicTimer _timer;
    private FileStamp[] _last;
    private int _scans;

    /// <summary>Takes the first listing now and polls from then on, until disposed.</summary>
    /// <param name="directory">The folder to list, with its subfolders.</param>
    /// <param name="file">A file outside it to watch too (the configuration).</param>
    /// <param name="interval">How often to list.</param>
    /// <param name="changed">Called after a listing that differs from the one before.</param>
    /// <param name="failed">Called with the first error of a run of failed listings; polling goes on.</param>
    public ChangePoller(string directory, string file, TimeSpan interval, Action changed, Action<Exception> failed)
    {
        _directory = directory;
        _file = file;
        _changed = changed;
        _failed = failed;
        _last = TryScan(out var listing, out _) ? listing : [];
        _timer = new PeriodicTimer(interval);
        _ = PollAsync();
    }

    /// <summary>How many listings were taken since the first (tests wait on it to see a quiet folder stay quiet).</summary>
    public int Scans => Volatile.Read(ref _scans);

    public void Dispose() => _timer.Dispose();

    private async Task PollAsync()
    {
        var failing = false;

        // False once disposed; a tick missed while a slow listing ran is not made up.
        while (await _timer.WaitForNextTickAsync())
        {
            if (!TryScan(out var listing, out var error))
            {
                if (!failing)
                {
                    _failed(error!);
                }

                failing = true;
                continue;
            }

            failing = false;
            Interlocked.Increment(ref _scans);
            if (!listing.AsSpan().SequenceEqual(_last))
            {
                _last = listing;
                _changed();
            }
        }
    }

    private bool TryScan(out FileStamp[] listing, out Exception? error)
    {
        try
        {
            listing = Scan();
            error = null;
            return true;
        }
        catch (Exception ex)
        {
            // A share that went away for a moment, a folder removed while listed: try again at the next tick.
            listing = [];
            error = ex;
            return false;
        }
    }

    private FileStamp[] Scan()
    {
        var files = new List<FileStamp>();
        try
        {
            files.AddRange(new FileSystemEnumerable<FileStamp>(_directory, (ref entry) => new FileStamp(entry.ToFullPath(), entry.Length, entry.LastWriteTimeUtc), Everything)
            {
                ShouldIncludePredicate = (ref entry) => !entry.IsDirectory,
            });
        }
        catch (DirectoryNotFoundException)
        {
            // No folder lists as empty: removing it is a change, and so is bringing it back.
        }

        var config = new FileInfo(_file);
        files.Add(config.Exists ? new FileStamp(config.FullName, config.Length, config.LastWriteTimeUtc) : new FileStamp(config.FullName, -1, default));

        // Listing order is the file system's; sorted, two listings of the same files compare equal.
        files.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return [.. files];
    }

    private readonly record struct FileStamp(string Path, long Length, DateTimeOffset LastWrite);
}
