using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace PluginHost.Bench;

/// <summary>
/// Reads an SSE chat stream as it arrives and timestamps each content chunk by the read that brought it, so
/// chunks a server held back and sent together show up as arriving together (<see cref="StreamTrace.Coalesced"/>).
/// </summary>
internal static class SseReader
{
    public static async Task<StreamTrace> ReadAsync(ChatClient client, Target target, byte[] body, Action? onFirstChunk, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var arrivals = new List<double>();
        var transits = new List<double>();
        var text = new StringBuilder();
        var coalesced = 0;
        var done = false;
        string? finish = null;
        try
        {
            using var request = client.Request(target, body);
            using var response = await client.SendStreamingAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return StreamTrace.Failed($"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[16 * 1024];
            var pending = new List<byte>();
            int read;
            while (!done && (read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                var readAt = Stopwatch.GetTimestamp();
                var at = Stopwatch.GetElapsedTime(started, readAt).TotalMilliseconds;
                pending.AddRange(buffer.AsSpan(0, read));
                var inThisRead = 0;
                while (IndexOfEventEnd(pending) is var end and >= 0)
                {
                    var line = Encoding.UTF8.GetString(pending.GetRange(0, end).ToArray());
                    pending.RemoveRange(0, end + 2);
                    if (!line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var data = line[6..];
                    if (data == "[DONE]")
                    {
                        done = true;
                        break;
                    }

                    using var document = JsonDocument.Parse(data);
                    var root = document.RootElement;
                    if (root.TryGetProperty("error", out var error))
                    {
                        return StreamTrace.Failed("stream error: " + error.GetRawText());
                    }

                    if (root.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0)
                    {
                        var choice = choices[0];
                        if (choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String)
                        {
                            finish = reason.GetString();
                        }

                        if (choice.GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 } piece)
                        {
                            if (arrivals.Count == 0)
                            {
                                onFirstChunk?.Invoke();
                            }

                            text.Append(StripSendTime(piece, readAt, transits));
                            arrivals.Add(at);
                            if (++inThisRead > 1)
                            {
                                coalesced++;
                            }
                        }
                    }
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException or OperationCanceledException or KeyNotFoundException)
        {
            return StreamTrace.Failed($"{ex.GetType().Name}: {ex.Message}");
        }

        return done && finish is not null
            ? new StreamTrace(arrivals, transits, text.ToString(), coalesced, null)
            : StreamTrace.Failed($"stream ended without {(done ? "a finish_reason" : "[DONE]")} after {arrivals.Count} chunks");
    }

    /// <summary>
    /// The mock upstream writes tokens as <c>tok3@&lt;Stopwatch ticks when sent&gt; </c>: records how long the
    /// chunk took to arrive and returns the token without its send time.
    /// </summary>
    private static string StripSendTime(string piece, long readAt, List<double> transits)
    {
        var at = piece.IndexOf('@', StringComparison.Ordinal);
        var end = piece.IndexOf(' ', StringComparison.Ordinal);
        if (at < 0 || end < at || !long.TryParse(piece.AsSpan(at + 1, end - at - 1), System.Globalization.CultureInfo.InvariantCulture, out var sent))
        {
            return piece;
        }

        transits.Add(Stopwatch.GetElapsedTime(sent, readAt).TotalMilliseconds);
        return string.Concat(piece.AsSpan(0, at), piece.AsSpan(end));
    }

    private static int IndexOfEventEnd(List<byte> pending)
    {
        for (var i = 0; i + 1 < pending.Count; i++)
        {
            if (pending[i] == '\n' && pending[i + 1] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>
/// When each content chunk arrived (ms since the request was sent), how long each took from the upstream's
/// write (when the upstream stamps its tokens), the text, and how many chunks came glued to an earlier one.
/// </summary>
internal sealed record StreamTrace(IReadOnlyList<double> ArrivalsMs, IReadOnlyList<double> TransitsMs, string Text, int Coalesced, string? Error)
{
    public static StreamTrace Failed(string error) => new([], [], "", 0, error);

    public double FirstChunkMs => ArrivalsMs.Count > 0 ? ArrivalsMs[0] : double.NaN;

    public IEnumerable<double> Gaps => ArrivalsMs.Zip(ArrivalsMs.Skip(1), (x, y) => y - x);
}
