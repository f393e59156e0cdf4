using System.ClientModel;
using System.Globalization;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// A body over <c>general_settings.max_request_size_mb</c> gets its 413 delivered to a client that is still
/// uploading (the proxy reads and discards the rest of the body, within a bound, then closes the connection), never a
/// connection reset; so does any other error answered before the body was read. Uploads repeat: a reset is a race
/// that one try can miss.
/// </summary>
public sealed class OversizeBodyTests
{
    private const int Repeats = 20;
    private const int Megabyte = 1024 * 1024;

    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartProxy()
    {
        var config = Yaml.Config(new Model("everything", "SurfaceHandlers:Everything")) + "  max_request_size_mb: 1\n";
        _proxy = await TestProxy.StartAsync(config, "SurfaceHandlers");
    }

    [OneTimeTearDown]
    public async Task StopProxy() => await _proxy.DisposeAsync();

    /// <summary>Three to about five times the 1 MB limit (as 33–40 MB uploads are for the default 32 MB).</summary>
    private static int OversizeLength(int attempt) => (3 * Megabyte) + (attempt * 100 * 1024);

    [Test]
    public async Task The_OpenAI_SDK_gets_the_413_for_an_oversize_embeddings_input_every_time()
    {
        var client = _proxy.OpenAi().GetEmbeddingClient("everything");
        var outcomes = new List<string>();
        for (var attempt = 0; attempt < Repeats; attempt++)
        {
            outcomes.Add(await OutcomeAsync(() => client.GenerateEmbeddingAsync(new string('x', OversizeLength(attempt)))));
        }

        Assert.That(Tally(outcomes), Is.EqualTo($"{Repeats}× 413"));
    }

    [Test]
    public async Task The_OpenAI_SDK_gets_the_413_for_an_oversize_image_edit_every_time()
    {
        var client = _proxy.OpenAi().GetImageClient("everything");
        var outcomes = new List<string>();
        for (var attempt = 0; attempt < Repeats; attempt++)
        {
            using var image = new MemoryStream(new byte[OversizeLength(attempt)]);
            outcomes.Add(await OutcomeAsync(() => client.GenerateImageEditAsync(image, "huge.png", "add a hat")));
        }

        Assert.That(Tally(outcomes), Is.EqualTo($"{Repeats}× 413"));
    }

    [TestCase("/v1/chat/completions", false)]
    [TestCase("/v1/chat/completions", true)]
    [TestCase("/v1/embeddings", false)]
    [TestCase("/v1/embeddings", true)]
    [TestCase("/v1/images/edits", false)]
    [TestCase("/v1/images/edits", true)]
    public async Task A_client_that_writes_a_whole_oversize_body_before_reading_gets_the_413_every_time(string path, bool chunked)
    {
        var outcomes = new List<string>();
        for (var attempt = 0; attempt < Repeats; attempt++)
        {
            var response = await SendAsync(path, Uploads.Sized(path, OversizeLength(attempt)), chunked);
            outcomes.Add(Describe(response));
        }

        Assert.That(Tally(outcomes), Is.EqualTo($"{Repeats}× 413 request_too_large, Connection: close"));
    }

    [Test]
    public async Task The_413_is_an_OpenAI_error_that_names_the_setting()
    {
        var response = await SendAsync("/v1/chat/completions", Uploads.Sized("/v1/chat/completions", 3 * Megabyte), chunked: false);

        Assert.That(response.Status, Is.EqualTo(413), response.ToString());
        var error = OpenAiErrors.AssertErrorBody(response.Body);
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("type").GetString(), Is.EqualTo("invalid_request_error"));
            Assert.That(error.GetProperty("code").GetString(), Is.EqualTo("request_too_large"));
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("max_request_size_mb"));
        });
    }

    /// <summary>
    /// 35 MB is over Kestrel's own default limit (30,000,000 bytes), which refused the rest of the upload and reset the
    /// connection under the answer.
    /// </summary>
    [TestCase("/v1/chat/completions", "sk-wrong", 401, false)]
    [TestCase("/v1/chat/completions", "sk-wrong", 401, true)]
    [TestCase("/v1/no-such-route", TestProxy.MasterKey, 404, false)]
    public async Task An_upload_answered_before_its_body_is_read_gets_its_answer_every_time(string path, string key, int status, bool chunked)
    {
        var body = Uploads.Sized("/v1/chat/completions", 35 * Megabyte);
        var outcomes = new List<string>();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var response = await SendAsync(path, body, chunked, key);
            outcomes.Add(response.Failure is null ? response.Status.ToString(CultureInfo.InvariantCulture) : response.ToString());
        }

        Assert.That(Tally(outcomes), Is.EqualTo($"5× {status}"));
    }

    [TestCase("/v1/chat/completions")]
    [TestCase("/v1/images/edits")]
    public async Task A_request_on_a_fresh_connection_right_after_an_oversize_body_is_served(string path)
    {
        var oversize = await SendAsync(path, Uploads.Sized(path, 3 * Megabyte), chunked: false);
        var normal = await SendAsync(path, Uploads.Normal(path), chunked: false);

        Assert.Multiple(() =>
        {
            Assert.That(oversize.Status, Is.EqualTo(413), oversize.ToString());
            Assert.That(normal.Status, Is.EqualTo(200), normal.ToString());
        });
    }

    [Test]
    public async Task A_body_just_under_the_limit_is_served_whether_chunked_or_not([Values] bool chunked)
    {
        var body = Uploads.Sized("/v1/embeddings", Megabyte - 1024);

        var response = await SendAsync("/v1/embeddings", body, chunked);

        Assert.That(response.Status, Is.EqualTo(200), response.ToString());
    }

    /// <summary>"413", or the status and exception the SDK call ended with instead.</summary>
    private static async Task<string> OutcomeAsync<T>(Func<Task<ClientResult<T>>> call)
    {
        try
        {
            await call();
            return "200";
        }
        catch (ClientResultException ex) when (ex.Status == 413)
        {
            return ex.Message.Contains("max_request_size_mb", StringComparison.Ordinal) ? "413" : $"413 without the message: {ex.Message}";
        }
        catch (Exception ex)
        {
            return $"{(ex as ClientResultException)?.Status} {ex.GetType().Name}: {ex.Message} ({ex.InnerException?.GetType().Name}: {ex.InnerException?.Message})";
        }
    }

    /// <summary>How many times each outcome happened, most frequent first: "17× 413; 3× no response: …".</summary>
    private static string Tally(IEnumerable<string> outcomes) =>
        string.Join("; ", outcomes.GroupBy(o => o).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()}× {g.Key}"));

    /// <summary>"413 request_too_large, Connection: close", or what came instead.</summary>
    private static string Describe(SocketResponse response)
    {
        if (response.Failure is not null)
        {
            return response.ToString();
        }

        string? code;
        try
        {
            code = response.Json.GetProperty("error").GetProperty("code").GetString();
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            code = $"not an OpenAI error: {response.Body}";
        }

        return $"{response.Status} {code}{(response.ClosesConnection ? ", Connection: close" : ", connection kept open")}";
    }

    private Task<SocketResponse> SendAsync(string path, byte[] body, bool chunked, string key = TestProxy.MasterKey) =>
        RawSocket.SendAsync(_proxy.BaseAddress, Uploads.Head(path, chunked ? "Transfer-Encoding: chunked" : $"Content-Length: {body.Length}", key), chunked ? RawSocket.Chunked(body) : body);
}
