using System.Text.Json;

namespace PluginHost.Tests.Infrastructure;

/// <summary>A named SSE event (<c>event: NAME</c> then <c>data: JSON</c>), as the Responses and Messages APIs send them.</summary>
internal sealed record NamedEvent(string Name, JsonElement Data);

internal static class NamedSse
{
    /// <summary>
    /// Every event of an SSE body, each checked to be exactly one <c>event:</c> line and one <c>data:</c> line;
    /// fails on anything else (a <c>[DONE]</c>, an unnamed event).
    /// </summary>
    public static List<NamedEvent> Parse(string body)
    {
        Assert.That(body, Does.EndWith("\n\n"), "the last event ends with a blank line");
        var events = new List<NamedEvent>();
        foreach (var block in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var lines = block.Split('\n');
            Assert.That(lines, Has.Length.EqualTo(2), "one event line and one data line: " + block);
            Assert.That(lines[0], Does.StartWith("event: "), block);
            Assert.That(lines[1], Does.StartWith("data: "), block);
            events.Add(new NamedEvent(lines[0]["event: ".Length..], JsonDocument.Parse(lines[1]["data: ".Length..]).RootElement.Clone()));
        }

        return events;
    }

    /// <summary>The events of a raw answer's body.</summary>
    public static List<NamedEvent> NamedEvents(this RawResponse response) => Parse(response.Body);
}
