using System.Collections.Concurrent;

namespace PluginHost.Tests.Infrastructure;

/// <summary>
/// Keeps the proxy's log lines (information and up, PluginHost's own categories) so tests can check what was
/// reported, and the access log's entries with their structured fields.
/// </summary>
internal sealed class TestLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<AccessEntry> _access = new();

    public IEnumerable<string> Lines => _lines;

    /// <summary>The access log (category <c>PluginHost.Access</c>), in the order the requests ended.</summary>
    public IEnumerable<AccessEntry> Access => _access;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(TestLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && category.StartsWith("PluginHost", StringComparison.Ordinal);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, exception);
            owner._lines.Enqueue($"{logLevel}: {message}");
            if (category == "PluginHost.Access" && state is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                owner._access.Enqueue(new AccessEntry(message, fields.Where(f => f.Key != "{OriginalFormat}").ToDictionary(f => f.Key, f => f.Value)));
            }
        }
    }
}

/// <summary>One access log entry: the plain line (the message) and its fields as the JSON format writes them.</summary>
internal sealed record AccessEntry(string Message, IReadOnlyDictionary<string, object?> Fields)
{
    public object? this[string field] => Fields.TryGetValue(field, out var value) ? value : throw new KeyNotFoundException($"no field {field} in: {Message}");

    public string Path => (string)this["Path"]!;

    /// <summary>Whether the entry has <paramref name="field"/> and it equals <paramref name="value"/>.</summary>
    public bool Has(string field, object value) => Fields.TryGetValue(field, out var actual) && Equals(actual, value);

    public int Status => (int)this["Status"]!;

    public override string ToString() => Message;
}
