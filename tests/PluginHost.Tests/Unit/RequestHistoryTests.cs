using PluginHost.Telemetry;

namespace PluginHost.Tests.Unit;

/// <summary>The status page's request history: 10-second buckets over 15 minutes, read with a hand-set clock.</summary>
public sealed class RequestHistoryTests
{
    /// <summary>Starts 3 s into a bucket: 12:00:03 UTC.</summary>
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 12, 0, 3, TimeSpan.Zero);

    private static (RequestHistory History, ManualClock Clock) Create()
    {
        var clock = new ManualClock(Start);
        return (new RequestHistory(clock), clock);
    }

    private static void Record(RequestHistory history, ManualClock clock, double milliseconds, int status = 200) =>
        history.Record(clock.GetTimestamp(), TimeSpan.FromMilliseconds(milliseconds), status);

    [Test]
    public void Read_gives_ninety_ten_second_buckets_oldest_first_ending_with_the_current_one()
    {
        var (history, clock) = Create();
        clock.Advance(TimeSpan.FromSeconds(4));

        var body = history.Read();

        Assert.That(body.BucketSeconds, Is.EqualTo(10));
        Assert.That(body.Buckets, Has.Count.EqualTo(90));
        Assert.That(body.Buckets[^1].Start, Is.EqualTo(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds()));
        Assert.That(body.Buckets[^1].Seconds, Is.EqualTo(7), "12:00:07 is 7 s into the current bucket");
        Assert.That(body.Buckets[0].Start, Is.EqualTo(body.Buckets[^1].Start - (89 * 10)));
        Assert.That(body.Buckets.Take(89).Select(b => b.Seconds), Has.All.EqualTo(10));
        Assert.That(body.Buckets.Select(b => b.Requests), Has.All.Zero);
        Assert.That(body.Buckets.Select(b => b.P50Ms), Has.All.Null);
    }

    [Test]
    public void Requests_land_in_the_bucket_of_the_time_they_ended()
    {
        var (history, clock) = Create();
        Record(history, clock, 5);
        Record(history, clock, 5);
        clock.Advance(TimeSpan.FromSeconds(10));
        Record(history, clock, 5);

        var buckets = history.Read().Buckets;

        Assert.That(buckets[^2].Requests, Is.EqualTo(2));
        Assert.That(buckets[^1].Requests, Is.EqualTo(1));
        Assert.That(buckets.Sum(b => b.Requests), Is.EqualTo(3));
    }

    [Test]
    public void Errors_count_status_400_and_up_and_server_errors_500_and_up()
    {
        var (history, clock) = Create();
        foreach (var status in new[] { 200, 204, 301, 400, 401, 404, 429, 499, 500, 503 })
        {
            Record(history, clock, 1, status);
        }

        var bucket = history.Read().Buckets[^1];

        Assert.That((bucket.Requests, bucket.Errors, bucket.ServerErrors), Is.EqualTo((10, 7, 2)));
    }

    [Test]
    public void P50_and_p99_come_within_a_bucket_width_and_never_above_the_largest()
    {
        var (history, clock) = Create();
        for (var i = 1; i <= 100; i++)
        {
            Record(history, clock, i);
        }

        var bucket = history.Read().Buckets[^1];

        Assert.That(bucket.P50Ms, Is.InRange(50, 50 * 1.19));
        Assert.That(bucket.P99Ms, Is.InRange(99, 100));
        Assert.That(bucket.MaxMs, Is.EqualTo(100));
    }

    [Test]
    public void A_single_request_is_its_own_p50_and_p99()
    {
        var (history, clock) = Create();
        Record(history, clock, 0.01);

        var bucket = history.Read().Buckets[^1];

        Assert.That((bucket.P50Ms, bucket.P99Ms, bucket.MaxMs), Is.EqualTo((0.01, 0.01, 0.01)));
    }

    [Test]
    public void After_fifteen_minutes_a_bucket_is_reused_and_starts_from_zero()
    {
        var (history, clock) = Create();
        Record(history, clock, 3000, 500);
        clock.Advance(TimeSpan.FromMinutes(15));

        Assert.That(history.Read().Buckets.Sum(b => b.Requests), Is.Zero, "15 minutes later the request has aged out");

        Record(history, clock, 2);
        var bucket = history.Read().Buckets[^1];
        Assert.That((bucket.Requests, bucket.Errors, bucket.ServerErrors, bucket.MaxMs), Is.EqualTo((1, 0, 0, 2.0)));
    }

    [Test]
    public void A_request_that_ended_in_a_bucket_already_reused_is_dropped()
    {
        var (history, clock) = Create();
        var old = clock.GetTimestamp();
        clock.Advance(TimeSpan.FromMinutes(15));
        Record(history, clock, 1);

        history.Record(old, TimeSpan.FromMilliseconds(1), 200);

        Assert.That(history.Read().Buckets.Sum(b => b.Requests), Is.EqualTo(1));
    }

    [Test]
    public void Concurrent_recording_loses_nothing()
    {
        var (history, clock) = Create();

        Parallel.For(0, 40_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => Record(history, clock, i % 100, i % 10 == 0 ? 500 : 200));

        var bucket = history.Read().Buckets[^1];
        Assert.That((bucket.Requests, bucket.Errors, bucket.ServerErrors), Is.EqualTo((40_000, 4_000, 4_000)));
    }

    [TestCase(0.0, 0)]
    [TestCase(0.05, 0)]
    [TestCase(0.051, 1)]
    [TestCase(0.1, 4)]
    [TestCase(1e9, LatencyScale.Count - 1)]
    public void Latency_scale_puts_a_latency_in_the_first_bucket_whose_bound_holds_it(double milliseconds, int index)
    {
        Assert.That(LatencyScale.IndexOf(milliseconds), Is.EqualTo(index));
        Assert.That(LatencyScale.UpperBound(index), Is.GreaterThanOrEqualTo(Math.Min(milliseconds, LatencyScale.UpperBound(LatencyScale.Count - 1))));
    }

    /// <summary>A clock the test moves: wall time and a monotonic timestamp advance together.</summary>
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override DateTimeOffset GetUtcNow() => start.AddTicks(_ticks);

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
