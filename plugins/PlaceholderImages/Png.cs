using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace PlaceholderImages;

/// <summary>A minimal PNG writer: 8-bit RGB, no interlacing, every row unfiltered.</summary>
internal static class Png
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>A diagonal gradient from <paramref name="from"/> (top left) to <paramref name="to"/> (bottom right).</summary>
    public static byte[] Gradient(int width, int height, (byte R, byte G, byte B) from, (byte R, byte G, byte B) to)
    {
        var rows = new byte[height * ((width * 3) + 1)];
        var at = 0;
        for (var y = 0; y < height; y++)
        {
            rows[at++] = 0; // filter: none
            for (var x = 0; x < width; x++)
            {
                var t = (x + y) / (double)Math.Max(1, width + height - 2);
                rows[at++] = (byte)(from.R + ((to.R - from.R) * t));
                rows[at++] = (byte)(from.G + ((to.G - from.G) * t));
                rows[at++] = (byte)(from.B + ((to.B - from.B) * t));
            }
        }

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bits per channel
        header[9] = 2; // colour type: RGB
        WriteChunk(png, "IHDR", header);
        using (var compressed = new MemoryStream())
        {
            using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            {
                zlib.Write(rows);
            }

            WriteChunk(png, "IDAT", compressed.ToArray());
        }

        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void WriteChunk(Stream png, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> number = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(number, data.Length);
        png.Write(number);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        png.Write(typeBytes);
        png.Write(data);
        var crc = Crc(Crc(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(number, crc);
        png.Write(number);
    }

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (var n = 0u; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
