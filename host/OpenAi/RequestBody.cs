using System.Text.Json;
using System.Text.Unicode;

namespace PluginHost.OpenAi;

/// <summary>Reads a request body, JSON or a form, turning every way it can be wrong into a 4xx OpenAI error.</summary>
internal static class RequestBody
{
    // Trailing commas are accepted: the reference page's own curl example has one.
    private static readonly JsonDocumentOptions Options = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 128 };

    /// <summary>The error code of a body that could not be read: broken chunked framing, or one that stopped arriving.</summary>
    public const string UnreadableCode = "invalid_request_body";

    public static async Task<JsonDocument> ReadJsonAsync(HttpContext context, long maxBytes)
    {
        var request = context.Request;
        RequestBodyDrain.AllowDrain(context, maxBytes);
        if (request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }

        if (request.ContentLength == 0)
        {
            throw Empty();
        }

        // Read the whole body first (JsonDocument would buffer it anyway), so an empty, whitespace-only or
        // non-UTF-8 body gets its own message instead of a parser error or, later, a failed string read.
        ReadOnlyMemory<byte> body;
        try
        {
            body = await ReadAllAsync(context, maxBytes);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
        catch (BadHttpRequestException ex)
        {
            throw Unreadable(ex.StatusCode, ex);
        }
        catch (IOException ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Kestrel reports a chunk size too large for an int as an IOException, not a bad request.
            throw Unreadable(StatusCodes.Status400BadRequest, ex);
        }

        if (body.Span.StartsWith("\uFEFF"u8))
        {
            body = body[3..];
        }

        if (body.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            throw Empty();
        }

        if (!Utf8.IsValid(body.Span))
        {
            throw OpenAiException.BadRequest("The request body is not valid UTF-8 text. The API expects a JSON object in UTF-8.", code: "invalid_json");
        }

        try
        {
            return JsonDocument.Parse(body, Options);
        }
        catch (JsonException ex)
        {
            throw OpenAiException.BadRequest(
                $"We could not parse the JSON body of your request: {ex.Message} The API expects a JSON object, e.g. {{\"model\": \"...\", \"messages\": [...]}}.",
                code: "invalid_json");
        }
    }

    /// <summary>
    /// Reads a multipart (or URL-encoded) form, turning every way it can be wrong into a 4xx: a 415 for a body that is
    /// not a form, a 413 past <paramref name="maxBytes"/> (counted as the form is read, so a chunked body is stopped
    /// there too), a 400 <c>invalid_multipart</c> for a form that does not parse.
    /// </summary>
    public static async Task<IFormCollection> ReadFormAsync(HttpContext context, long maxBytes)
    {
        var request = context.Request;
        if (!request.HasFormContentType)
        {
            throw new OpenAiException(
                StatusCodes.Status415UnsupportedMediaType,
                $"{request.Path} takes a multipart/form-data body, not '{request.ContentType ?? "no content type"}'.",
                code: "unsupported_content_type");
        }

        RequestBodyDrain.AllowDrain(context, maxBytes);
        if (request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }

        var body = request.Body;
        request.Body = new LimitedStream(body, maxBytes);
        try
        {
            return await request.ReadFormAsync(context.RequestAborted);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
        catch (BadHttpRequestException ex)
        {
            throw Unreadable(ex.StatusCode, ex);
        }
        catch (InvalidDataException ex)
        {
            throw OpenAiException.BadRequest($"We could not parse the multipart body of your request: {ex.Message}", code: "invalid_multipart");
        }
        catch (IOException ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            throw OpenAiException.BadRequest($"We could not parse the multipart body of your request: {ex.Message}", code: "invalid_multipart");
        }
        finally
        {
            request.Body = body;
        }
    }

    /// <summary>
    /// The whole body, counted as it arrives: past <paramref name="maxBytes"/> it stops with a 413 and leaves the rest
    /// unread, for <see cref="RequestBodyDrain"/>.
    /// </summary>
    private static async Task<ReadOnlyMemory<byte>> ReadAllAsync(HttpContext context, long maxBytes)
    {
        var length = context.Request.ContentLength;
        using var buffer = new BoundedBuffer(length is > 0 and < int.MaxValue ? (int)length.Value : 0, maxBytes);

        // Stream.CopyToAsync rather than a loop on BodyReader: Kestrel's copy allocates less (about 200 bytes a request).
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    private static OpenAiException Unreadable(int status, Exception exception) =>
        new(status, $"We could not read the body of your request: {exception.Message}", code: UnreadableCode);

    private static OpenAiException Empty() =>
        OpenAiException.BadRequest("The request body is empty. The API expects a JSON object, e.g. {\"model\": \"...\", \"messages\": [...]}.", code: "invalid_json");

    private static OpenAiException TooLarge(long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than the limit of {maxBytes / (1024.0 * 1024.0):0.##} MB (general_settings.max_request_size_mb).", code: "request_too_large");

    /// <summary>The buffer a JSON body is copied into: a write that would take it past <c>maxBytes</c> is a 413.</summary>
    private sealed class BoundedBuffer(int capacity, long maxBytes) : MemoryStream(capacity)
    {
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Check(buffer.Length);
            base.Write(buffer);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Check(count);
            base.Write(buffer, offset, count);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Check(buffer.Length);
            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Check(count);
            return base.WriteAsync(buffer, offset, count, cancellationToken);
        }

        public override void WriteByte(byte value)
        {
            Check(1);
            base.WriteByte(value);
        }

        private void Check(int count)
        {
            if (Length + count > maxBytes)
            {
                throw TooLarge(maxBytes);
            }
        }
    }

    /// <summary>A request body that stops with a 413 once more than <c>maxBytes</c> have been read from it.</summary>
    private sealed class LimitedStream(Stream inner, long maxBytes) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int read)
        {
            _read += read;
            return _read > maxBytes ? throw TooLarge(maxBytes) : read;
        }
    }
}
