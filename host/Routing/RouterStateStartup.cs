namespace PluginHost.Routing;

/// <summary>
/// Starts the router state with the host, before Kestrel listens: with Redis, the connection is made (and awaited
/// briefly, never failing startup) so the first requests already count in Redis. Nothing to do in process.
/// </summary>
internal sealed class RouterStateStartup(IRouterState state) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        state is RedisRouterState redis ? redis.StartAsync(cancellationToken) : Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
