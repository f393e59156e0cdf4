using System.Text;

namespace PluginHost.Tests.Infrastructure;

/// <summary>
/// Request bodies for <see cref="RawSocket"/>: JSON for the JSON endpoints, a multipart form for
/// <c>/images/edits</c>, all for the model <c>everything</c> (<c>SurfaceHandlers:Everything</c>).
/// </summary>
internal static class Uploads
{
    private const string Boundary = "upload-boundary";

    /// <summary>The request line and headers for a POST to <paramref name="path"/> with the given framing header.</summary>
    public static string Head(string path, string framing, string key = TestProxy.MasterKey) =>
        $"POST {path} HTTP/1.1\r\nAuthorization: Bearer {key}\r\nContent-Type: {ContentType(path)}\r\n{framing}";

    /// <summary>A small, valid request for <paramref name="path"/>: a chat message, or an image edit.</summary>
    public static byte[] Normal(string path) => IsForm(path)
        ? Form("IMAGE-BYTES")
        : Encoding.UTF8.GetBytes("""{"model":"everything","messages":[{"role":"user","content":"hi"}]}""");

    /// <summary>A valid request for <paramref name="path"/> carrying <paramref name="length"/> bytes of text or image.</summary>
    public static byte[] Sized(string path, int length) => path switch
    {
        _ when IsForm(path) => Form(new string('x', length)),
        _ when path.EndsWith("/embeddings", StringComparison.Ordinal) => Encoding.UTF8.GetBytes($$"""{"model":"everything","input":"{{new string('x', length)}}"}"""),
        _ => Encoding.UTF8.GetBytes($$"""{"model":"everything","messages":[{"role":"user","content":"{{new string('x', length)}}"}]}"""),
    };

    private static string ContentType(string path) => IsForm(path) ? $"multipart/form-data; boundary={Boundary}" : "application/json";

    private static bool IsForm(string path) => path.EndsWith("/images/edits", StringComparison.Ordinal);

    private static byte[] Form(string image) => Encoding.UTF8.GetBytes(
        $"--{Boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\neverything\r\n" +
        $"--{Boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nadd a hat\r\n" +
        $"--{Boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image.png\"\r\nContent-Type: image/png\r\n\r\n{image}\r\n" +
        $"--{Boundary}--\r\n");
}
