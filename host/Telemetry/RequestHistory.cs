namespace PluginHost.Telemetry;

/// <summary>
/// The last 15 minutes of requests in 10-second buckets, for the status page's charts: per bucket the number of
/// requests, of errors (status 400 and up) and of server errors (500 and up), and a latency histogram from which
/// p50 and p99 are read. Fed by <see cref="AccessLogMiddleware"/> with what it measured anyway.
/// </summary>
/// <remarks>
/// Memory is fixed (90 buckets of 100 counters, about 40 KB) and allocated once. Recording is a few interlocked
/// increments on the bucket of the current 10 seconds; a bucket is cleared under a lock only when it is reused for a
/// new period, once per 10 seconds. Time is monotonic (a <see cref="TimeProvider"/> timestamp from the start) so a
/// wall clock set back cannot scramble the buckets. Readers see counters as they are; a bucket being cleared at
/// that moment may read as partly cleared, which a chart refreshed a second later corrects.
/// </remarks>
internal sealed class RequestHistory
{
    /// <summary>The length of one bucket.</summary>
    public const int BucketSeconds = 10;

    /// <summary>The number of buckets kept: 15 minutes.</summary>
    public const int BucketCount = 90;

    private readonly TimeProvider _time;
    private readonly long _originTimestamp;
    private readonly long _originUnixSeconds;
    private readonly Bucket[] _buckets;
    private readonly Lock _reuse = new();

    public RequestHistory(TimeProvider time)
    {
        _time = time;
        _originTimestamp = time.GetTimestamp();
        _originUnixSeconds = time.GetUtcNow().ToUnixTimeSeconds();
        _buckets = new Bucket[BucketCount];
        for (var i = 0; i < _buckets.Length; i++)
        {
            _buckets[i] = new Bucket();
        }
    }

    /// <summary>Counts a request that ended at <paramref name="endTimestamp"/> (from the same <see cref="TimeProvider"/>).</summary>
    public void Record(long endTimestamp, TimeSpan duration, int status)
    {
        var period = PeriodOf(endTimestamp);
        var bucket = _buckets[period % BucketCount];
        if (Volatile.Read(ref bucket.Period) != period && !Reuse(bucket, period))
        {
            return;
        }

        Interlocked.Increment(ref bucket.Requests);
        if (status >= 400)
        {
            Interlocked.Increment(ref bucket.Errors);
            if (status >= 500)
            {
                Interlocked.Increment(ref bucket.ServerErrors);
            }
        }

        Interlocked.Increment(ref bucket.Latency[LatencyScale.IndexOf(duration.TotalMilliseconds)]);
        var ticks = duration.Ticks;
        var max = Volatile.Read(ref bucket.MaxTicks);
        while (ticks > max)
        {
            var seen = Interlocked.CompareExchange(ref bucket.MaxTicks, ticks, max);
            if (seen == max)
            {
                break;
            }

            max = seen;
        }
    }

    /// <summary>The last 15 minutes, oldest bucket first, the current (partial) one last.</summary>
    public HistoryBody Read()
    {
        var now = _time.GetTimestamp();
        var current = PeriodOf(now);
        var elapsedInCurrent = (_time.GetElapsedTime(_originTimestamp, now).TotalSeconds + (_originUnixSeconds % BucketSeconds)) % BucketSeconds;
        var buckets = new HistoryBucket[BucketCount];
        Span<int> latency = stackalloc int[LatencyScale.Count];
        for (var i = 0; i < BucketCount; i++)
        {
            var period = current - (BucketCount - 1) + i;
            var start = (period * BucketSeconds) + (_originUnixSeconds - (_originUnixSeconds % BucketSeconds));
            var seconds = period == current ? Math.Max(1, Math.Round(elapsedInCurrent, 1)) : BucketSeconds;
            var bucket = period >= 0 ? _buckets[period % BucketCount] : null;
            if (bucket is null || Volatile.Read(ref bucket.Period) != period)
            {
                buckets[i] = new HistoryBucket(start, seconds, 0, 0, 0, null, null, null);
                continue;
            }

            var requests = Volatile.Read(ref bucket.Requests);
            for (var j = 0; j < latency.Length; j++)
            {
                latency[j] = Volatile.Read(ref bucket.Latency[j]);
            }

            var maxMs = TimeSpan.FromTicks(Volatile.Read(ref bucket.MaxTicks)).TotalMilliseconds;
            buckets[i] = new HistoryBucket(
                start,
                seconds,
                requests,
                Volatile.Read(ref bucket.Errors),
                Volatile.Read(ref bucket.ServerErrors),
                LatencyScale.Quantile(latency, 0.5, maxMs),
                LatencyScale.Quantile(latency, 0.99, maxMs),
                requests > 0 ? Math.Round(maxMs, 3) : null);
        }

        return new HistoryBody(BucketSeconds, buckets);
    }

    /// <summary>The 10-second period since the Unix epoch, counted on the monotonic clock from the start.</summary>
    private long PeriodOf(long timestamp)
    {
        var offset = (long)_time.GetElapsedTime(_originTimestamp, timestamp).TotalSeconds + (_originUnixSeconds % BucketSeconds);
        return Math.Max(0, offset) / BucketSeconds;
    }

    /// <summary>Clears <paramref name="bucket"/> for <paramref name="period"/>; false for a request older than the bucket's period (its slot was reused already).</summary>
    private bool Reuse(Bucket bucket, long period)
    {
        lock (_reuse)
        {
            var held = Volatile.Read(ref bucket.Period);
            if (held == period)
            {
                return true;
            }

            if (held > period)
            {
                return false;
            }

            // Clear first, then publish the period: a recorder that sees the new period finds the counters cleared.
            Volatile.Write(ref bucket.Requests, 0);
            Volatile.Write(ref bucket.Errors, 0);
            Volatile.Write(ref bucket.ServerErrors, 0);
            Volatile.Write(ref bucket.MaxTicks, 0);
            Array.Clear(bucket.Latency);
            Volatile.Write(ref bucket.Period, period);
            return true;
        }
    }

    private sealed class Bucket
    {
        public readonly int[] Latency = new int[LatencyScale.Count];
        public long Period = -1;
        public int Requests;
        public int Errors;
        public int ServerErrors;
        public long MaxTicks;
    }

    /// <summary>
    /// Endpoint metadata for requests that are not counted: the status page and the JSON it reads, the health
    /// probes, so a page left open or a probe does not make the charts (they are still in the access log).
    /// </summary>
    public sealed class NotCounted
    {
        public static NotCounted Instance { get; } = new();

        private NotCounted()
        {
        }
    }
}

/// <summary>
/// Latency buckets on a log scale: four per doubling from 0.05 ms (each about 19% wider than the one before, so a
/// quantile is read within about 10%), the last one open-ended above 10 minutes.
/// </summary>
internal static class LatencyScale
{
    public const int Count = 96;

    private const double FirstBoundMs = 0.05;

    private const double StepsPerDoubling = 4;

    /// <summary>The bucket of a latency: the first whose upper bound is at least <paramref name="milliseconds"/>.</summary>
    public static int IndexOf(double milliseconds) =>
        milliseconds <= FirstBoundMs ? 0 : (int)Math.Min(Count - 1, Math.Ceiling(Math.Log2(milliseconds / FirstBoundMs) * StepsPerDoubling));

    /// <summary>The upper bound of bucket <paramref name="index"/>, in milliseconds.</summary>
    public static double UpperBound(int index) => FirstBoundMs * Math.Pow(2, index / StepsPerDoubling);

    /// <summary>
    /// The <paramref name="quantile"/> of the counted latencies: the upper bound of the bucket holding it, never more
    /// than the largest latency seen; null when nothing was counted.
    /// </summary>
    public static double? Quantile(ReadOnlySpan<int> counts, double quantile, double maxMs)
    {
        long total = 0;
        foreach (var count in counts)
        {
            total += count;
        }

        if (total == 0)
        {
            return null;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(quantile * total));
        long seen = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            seen += counts[i];
            if (seen >= rank)
            {
                return Math.Round(Math.Min(UpperBound(i), maxMs), 3);
            }
        }

        return Math.Round(maxMs, 3);
    }
}

/// <summary><c>GET /ui/stats</c>: the request history, oldest bucket first.</summary>
internal sealed record HistoryBody(int BucketSeconds, IReadOnlyList<HistoryBucket> Buckets);

/// <summary>
/// One bucket: its start (Unix seconds), the seconds it covers so far (10, or less for the current one), requests,
/// errors (status 400 and up, 499 for a client that left), server errors (500 and up), and p50, p99 and the largest
/// latency in milliseconds (null without requests).
/// </summary>
internal sealed record HistoryBucket(long Start, double Seconds, int Requests, int Errors, int ServerErrors, double? P50Ms, double? P99Ms, double? MaxMs);
