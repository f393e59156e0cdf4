using PluginHost.Configuration;

namespace PluginHost.Routing;

/// <summary>
/// One request's way through the router: the group it is on, the deployments it tried there, and how many
/// retries and fallbacks it has spent. After each failure it says whether to retry (within the group),
/// fall back (to the next group of the original group's fallbacks), or give up.
/// </summary>
internal sealed class RouteAttempts(string model, RouterSettings settings, int numRetries, IReadOnlyList<string>? requestFallbacks)
{
    private readonly string _model = model;
    private List<string>? _tried;
    private IReadOnlyList<string>? _fallbacks;
    private int _retriesHere;

    /// <summary>The model group (or alias) the next attempt goes to.</summary>
    public string Group { get; private set; } = model;

    /// <summary>Retries spent, over every group (<c>x-litellm-attempted-retries</c>).</summary>
    public int Retries { get; private set; }

    /// <summary>Fallback groups moved to (<c>x-litellm-attempted-fallbacks</c>).</summary>
    public int Fallbacks { get; private set; }

    /// <summary>The retries allowed in each group (<c>x-litellm-max-retries</c>).</summary>
    public int MaxRetries => numRetries;

    /// <summary>Deployments of the current group this request has already tried.</summary>
    public IReadOnlyCollection<string> Tried => _tried ?? (IReadOnlyCollection<string>)[];

    public void Attempting(string deployment) => (_tried ??= []).Add(deployment);

    /// <summary>What to do after a failure of class <paramref name="error"/>.</summary>
    public RouteNext After(ErrorClass error)
    {
        if (_retriesHere < ErrorClasses.Retries(error, settings, numRetries))
        {
            _retriesHere++;
            Retries++;
            return RouteNext.Retry;
        }

        return FallBack(error) ? RouteNext.Fallback : RouteNext.GiveUp;
    }

    /// <summary>When no deployment of the group can serve now: fall back as from a rate limit, or give up.</summary>
    public bool FallBackFromBusy() => FallBack(ErrorClass.RateLimit);

    private bool FallBack(ErrorClass error)
    {
        if (error == ErrorClass.BadRequest)
        {
            return false;
        }

        // The list is the original group's (or the request's own), chosen by the first error that falls back.
        _fallbacks ??= requestFallbacks ?? ErrorClasses.Fallbacks(error, _model, settings);
        if (Fallbacks >= _fallbacks.Count || Fallbacks >= settings.MaxFallbacks)
        {
            return false;
        }

        Group = _fallbacks[Fallbacks++];
        _tried?.Clear();
        _retriesHere = 0;
        return true;
    }
}

internal enum RouteNext
{
    Retry,
    Fallback,
    GiveUp,
}
