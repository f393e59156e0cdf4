using System.Text;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// A chunked body whose framing cannot be parsed is the client's mistake: a 400 OpenAI error saying so, on a JSON
/// endpoint and on the multipart one, never a 500 or a connection dropped without an answer.
/// </summary>
public sealed class ChunkedFramingTests
{
    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartProxy() => _proxy = await TestProxy.StartAsync(Yaml.Config(new Model("everything", "SurfaceHandlers:Everything")), "SurfaceHandlers");

    [OneTimeTearDown]
    public async Task StopProxy() => await _proxy.DisposeAsync();

    /// <summary>
    /// After a first, well-formed chunk: a size too large for Kestrel (64 and 36 bits), sizes that are not hex, a
    /// size line without its LF, and chunk data without the CRLF after it.
    /// </summary>
    [Test]
    public async Task Malformed_chunked_framing_is_a_400_OpenAI_error(
        [Values("/v1/chat/completions", "/v1/images/edits")] string path,
        [Values("ffffffffffffffff\r\n", "100000000\r\n", "zz\r\n", "-1\r\n", "5\rX\n", "5\r\nhelloXX")] string framing)
    {
        var valid = Uploads.Normal(path);
        using var body = new MemoryStream();
        body.Write(Encoding.ASCII.GetBytes($"{valid.Length / 2:x}\r\n"));
        body.Write(valid.AsSpan(0, valid.Length / 2));
        body.Write("\r\n"u8);
        body.Write(Encoding.ASCII.GetBytes(framing));
        body.Write(Encoding.ASCII.GetBytes(new string('x', 100) + "\r\n0\r\n\r\n"));

        var response = await RawSocket.SendAsync(_proxy.BaseAddress, Uploads.Head(path, "Transfer-Encoding: chunked"), body.ToArray());

        Assert.That(response.Status, Is.EqualTo(400), response.ToString());
        var error = OpenAiErrors.AssertErrorBody(response.Body);
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("type").GetString(), Is.EqualTo("invalid_request_error"));
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("chunk"), "the message says what is wrong");
        });
    }

    [Test]
    public async Task On_a_JSON_endpoint_it_is_invalid_request_body_and_the_connection_closes([Values("ffffffffffffffff\r\n", "zz\r\n")] string framing)
    {
        var body = Encoding.ASCII.GetBytes($"2\r\n{{\"\r\n{framing}xx\r\n0\r\n\r\n");

        var response = await RawSocket.SendAsync(_proxy.BaseAddress, Uploads.Head("/v1/chat/completions", "Transfer-Encoding: chunked"), body);

        Assert.That(response.Status, Is.EqualTo(400), response.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(response.Json.GetProperty("error").GetProperty("code").GetString(), Is.EqualTo("invalid_request_body"));
            Assert.That(response.ClosesConnection, Is.True, "Connection: close: where the next request would start is lost");
        });
    }
}
