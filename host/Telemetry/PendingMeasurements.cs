namespace PluginHost.Telemetry;

/// <summary>
/// What <see cref="PluginHostMetrics"/> recorded before the OpenTelemetry SDK listened (it starts after the proxy
/// listens: <see cref="MetricsSdk"/>), kept to be recorded again once it does. Each measurement is recorded exactly
/// once: kept before <see cref="Replay"/>, recorded directly after it. At most <see cref="Limit"/> are kept; a proxy
/// whose SDK cannot start for that long loses the rest, and says how many.
/// </summary>
internal sealed class PendingMeasurements
{
    /// <summary>Enough for the start and the first seconds under load of a proxy on a busy machine.</summary>
    public const int Limit = 100_000;

    private readonly Lock _lock = new();
    private List<Action>? _kept = [];
    private int _dropped;

    /// <summary>
    /// Keeps <paramref name="measurement"/> to be made on <see cref="Replay"/>; false once replayed (the caller then
    /// makes it itself, to a listening SDK).
    /// </summary>
    public bool TryKeep(Action measurement)
    {
        lock (_lock)
        {
            if (_kept is null)
            {
                return false;
            }

            if (_kept.Count < Limit)
            {
                _kept.Add(measurement);
            }
            else
            {
                _dropped++;
            }

            return true;
        }
    }

    /// <summary>Makes every kept measurement, once; later ones are the callers'. Returns how many did not fit.</summary>
    public int Replay()
    {
        List<Action> kept;
        lock (_lock)
        {
            if (_kept is null)
            {
                return 0;
            }

            kept = _kept;
            _kept = null;
        }

        foreach (var measurement in kept)
        {
            measurement();
        }

        return _dropped;
    }
}
