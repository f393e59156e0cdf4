using System.Buffers;
using System.Text.Json;

namespace PluginHost.OpenAi;

/// <summary>
/// A reusable buffer with its JSON writer, one cached per thread: a whole response is built in it
/// synchronously and copied to the response pipe, with no per-request buffer or writer allocation.
/// </summary>
internal sealed class JsonBuffer
{
    [ThreadStatic]
    private static JsonBuffer? _cached;

    private readonly ArrayBufferWriter<byte> _buffer = new(4096);

    private JsonBuffer()
    {
        Writer = new Utf8JsonWriter(_buffer, WireJsonContext.WriterOptions);
    }

    public Utf8JsonWriter Writer { get; }

    public ReadOnlySpan<byte> Written => _buffer.WrittenSpan;

    /// <summary>Takes this thread's buffer (or a new one). Use it synchronously and give it back with <see cref="Return"/>.</summary>
    public static JsonBuffer Rent()
    {
        var buffer = _cached ?? new JsonBuffer();
        _cached = null;
        return buffer;
    }

    public static void Return(JsonBuffer buffer)
    {
        // Buffers grown by a huge response are not kept.
        if (buffer._buffer.Capacity > 1024 * 1024)
        {
            return;
        }

        buffer._buffer.ResetWrittenCount();
        buffer.Writer.Reset(buffer._buffer);
        _cached = buffer;
    }
}
