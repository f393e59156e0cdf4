using System.Text;

namespace PluginHost.Tests.Infrastructure;

/// <summary>Reads a raw <c>text/event-stream</c> body one event at a time, as it arrives.</summary>
internal sealed class SseReader(Stream stream) : IDisposable
{
    private readonly StreamReader _reader = new(stream, Encoding.UTF8);

    /// <summary>The next event's <c>data:</c> payload, or null when the stream ends. Fails on a malformed event.</summary>
    public async Task<string?> ReadEventAsync(CancellationToken cancellationToken = default)
    {
        string? data = null;
        while (await _reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (data is not null)
                {
                    return data;
                }

                continue;
            }

            Assert.That(line, Does.StartWith("data: "), "every SSE line is a data line");
            Assert.That(data, Is.Null, "one data line per event");
            data = line["data: ".Length..];
        }

        Assert.That(data, Is.Null, "the last event ends with a blank line");
        return null;
    }

    /// <summary>Every remaining event.</summary>
    public async Task<List<string>> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        var events = new List<string>();
        while (await ReadEventAsync(cancellationToken) is { } data)
        {
            events.Add(data);
        }

        return events;
    }

    public void Dispose() => _reader.Dispose();
}
