using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace PluginHost.Tests.Infrastructure;

/// <summary>
/// What a plain-socket client saw: the response (status, headers, decoded body), or, when the connection failed
/// before a whole response arrived, how it failed (<see cref="Failure"/>).
/// </summary>
internal sealed record SocketResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body, Exception? Failure)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public bool ClosesConnection => Headers.TryGetValue("connection", out var value) && value.Equals("close", StringComparison.OrdinalIgnoreCase);

    public override string ToString() => Failure is null ? $"HTTP {Status}: {Body}" : $"no response: {Failure.GetType().Name}: {Failure.Message}";
}

/// <summary>
/// HTTP/1.1 over a plain socket, for what HttpClient will not send (broken chunked framing) or hides: the whole
/// request, body included, is written before the response is read, as a client that is still uploading does, and a
/// connection reset is reported as such instead of being retried.
/// </summary>
internal static class RawSocket
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Sends <paramref name="head"/> (request line and headers, without the blank line; <c>Host</c> is added) and then
    /// <paramref name="body"/> as it is, in 64 KB writes, then reads one response.
    /// </summary>
    public static async Task<SocketResponse> SendAsync(Uri baseAddress, string head, ReadOnlyMemory<byte> body)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(baseAddress.Host, baseAddress.Port, timeout.Token);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"{head}\r\nHost: {baseAddress.Authority}\r\n\r\n"), timeout.Token);
            for (var offset = 0; offset < body.Length; offset += 64 * 1024)
            {
                await stream.WriteAsync(body[offset..Math.Min(body.Length, offset + (64 * 1024))], timeout.Token);
            }

            return await ReadResponseAsync(stream, timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or InvalidDataException)
        {
            return new SocketResponse(0, new Dictionary<string, string>(), "", ex);
        }
    }

    /// <summary>A body sent with <c>Transfer-Encoding: chunked</c>, in chunks of <paramref name="chunkSize"/> bytes, with the last chunk.</summary>
    public static byte[] Chunked(ReadOnlySpan<byte> body, int chunkSize = 64 * 1024)
    {
        using var encoded = new MemoryStream();
        for (var offset = 0; offset < body.Length; offset += chunkSize)
        {
            var chunk = body[offset..Math.Min(body.Length, offset + chunkSize)];
            encoded.Write(Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n"));
            encoded.Write(chunk);
            encoded.Write("\r\n"u8);
        }

        encoded.Write("0\r\n\r\n"u8);
        return encoded.ToArray();
    }

    private static async Task<SocketResponse> ReadResponseAsync(Stream stream, CancellationToken cancellationToken)
    {
        var reader = new ResponseReader(stream);
        while (true)
        {
            var statusLine = await reader.ReadLineAsync(cancellationToken);
            var headers = await reader.ReadHeadersAsync(cancellationToken);
            var status = int.Parse(statusLine.Split(' ')[1], CultureInfo.InvariantCulture);
            if (status != 100)
            {
                var body = await reader.ReadBodyAsync(headers, cancellationToken);
                return new SocketResponse(status, headers, Encoding.UTF8.GetString(body), null);
            }

            // 100 Continue is an interim response: the final one follows.
        }
    }

    /// <summary>Reads an HTTP/1.1 response: lines, headers, and a body framed by Content-Length, chunks or the end of the connection.</summary>
    private sealed class ResponseReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;

        public async Task<string> ReadLineAsync(CancellationToken cancellationToken)
        {
            var line = new List<byte>();
            while (true)
            {
                if (_start == _end && !await FillAsync(cancellationToken))
                {
                    throw new IOException($"The connection ended in the middle of the response (after '{Encoding.ASCII.GetString(line.ToArray())}').");
                }

                var b = _buffer[_start++];
                if (b == '\n')
                {
                    return Encoding.ASCII.GetString(line.ToArray()).TrimEnd('\r');
                }

                line.Add(b);
            }
        }

        public async Task<Dictionary<string, string>> ReadHeadersAsync(CancellationToken cancellationToken)
        {
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (var line = await ReadLineAsync(cancellationToken); line.Length > 0; line = await ReadLineAsync(cancellationToken))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }

            return headers;
        }

        public async Task<byte[]> ReadBodyAsync(Dictionary<string, string> headers, CancellationToken cancellationToken)
        {
            using var body = new MemoryStream();
            if (headers.TryGetValue("transfer-encoding", out var coding) && coding.Equals("chunked", StringComparison.OrdinalIgnoreCase))
            {
                for (var size = await ReadChunkSizeAsync(cancellationToken); size > 0; size = await ReadChunkSizeAsync(cancellationToken))
                {
                    await ReadExactlyAsync(body, size, cancellationToken);
                    await ReadLineAsync(cancellationToken);
                }

                await ReadHeadersAsync(cancellationToken);
            }
            else if (headers.TryGetValue("content-length", out var length))
            {
                await ReadExactlyAsync(body, int.Parse(length, CultureInfo.InvariantCulture), cancellationToken);
            }
            else
            {
                while (_start < _end || await FillAsync(cancellationToken))
                {
                    body.Write(_buffer, _start, _end - _start);
                    _start = _end;
                }
            }

            return body.ToArray();
        }

        private async Task<int> ReadChunkSizeAsync(CancellationToken cancellationToken)
        {
            var line = await ReadLineAsync(cancellationToken);
            return int.Parse(line.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }

        private async Task ReadExactlyAsync(MemoryStream body, int count, CancellationToken cancellationToken)
        {
            while (count > 0)
            {
                if (_start == _end && !await FillAsync(cancellationToken))
                {
                    throw new IOException($"The connection ended with {count} bytes of the response body missing.");
                }

                var take = Math.Min(count, _end - _start);
                body.Write(_buffer, _start, take);
                _start += take;
                count -= take;
            }
        }

        private async Task<bool> FillAsync(CancellationToken cancellationToken)
        {
            _start = 0;
            _end = await stream.ReadAsync(_buffer, cancellationToken);
            return _end > 0;
        }
    }
}
