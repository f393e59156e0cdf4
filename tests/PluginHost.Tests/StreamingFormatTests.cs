using System.Net;
using System.Text.Json;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// The raw SSE of <c>stream: true</c>, read with HttpClient: <c>data: {chat.completion.chunk}</c> events written as
/// the handler yields them, role in the first delta, one finish per choice, a usage chunk only when asked, then
/// <c>data: [DONE]</c>.
/// </summary>
public sealed class StreamingFormatTests
{
    private string _markers = null!;
    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartProxy()
    {
        _markers = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "markers-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_markers);
        _proxy = await TestProxy.StartAsync(
            Yaml.Config(
                new Model("scripted", "TestHandlers:Scripted", ("cancel_marker", Path.Combine(_markers, "cancelled"))),
                new Model("completion", "TestHandlers:CompletionOnly"),
                new Model("astreaming", "TestHandlers:StreamingAsyncOnly")),
            "TestHandlers");
    }

    [OneTimeTearDown]
    public async Task StopProxy()
    {
        await _proxy.DisposeAsync();
        Directory.Delete(_markers, recursive: true);
    }

    [Test]
    public async Task A_stream_is_chunks_sharing_one_identity_then_DONE()
    {
        var (contentType, cacheControl, events) = await StreamAsync("scripted", "slow:3:1");

        Assert.Multiple(() =>
        {
            Assert.That(contentType, Is.EqualTo("text/event-stream"));
            Assert.That(cacheControl, Is.EqualTo("no-cache"));
            Assert.That(events[^1], Is.EqualTo("[DONE]"));
            Assert.That(events.Count(e => e == "[DONE]"), Is.EqualTo(1));
        });
        var chunks = Chunks(events);
        Assert.Multiple(() =>
        {
            Assert.That(chunks.Select(c => c.GetProperty("object").GetString()), Is.All.EqualTo("chat.completion.chunk"));
            Assert.That(chunks.Select(c => c.GetProperty("id").GetString()).Distinct().Single(), Does.StartWith("chatcmpl-"));
            Assert.That(chunks.Select(c => c.GetProperty("created").GetInt64()).Distinct().Count(), Is.EqualTo(1));
            Assert.That(chunks.Select(c => c.GetProperty("model").GetString()), Is.All.EqualTo("scripted"));
            Assert.That(string.Concat(chunks.Select(c => Delta(c).TryGetProperty("content", out var t) ? t.GetString() : "")), Is.EqualTo("[0][1][2]"));
        });
    }

    [Test]
    public async Task The_first_delta_has_role_assistant_and_no_later_one_does()
    {
        var (_, _, events) = await StreamAsync("scripted", "slow:3:1");

        var chunks = Chunks(events);
        Assert.That(Delta(chunks[0]).GetProperty("role").GetString(), Is.EqualTo("assistant"));
        Assert.That(chunks.Skip(1).Where(c => Delta(c).TryGetProperty("role", out _)), Is.Empty);
    }

    [Test]
    public async Task The_last_chunk_carries_the_finish_reason_and_no_other_does()
    {
        var (_, _, events) = await StreamAsync("scripted", "slow:3:1");

        var chunks = Chunks(events);
        Assert.That(chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString(), Is.EqualTo("stop"));
        Assert.That(chunks.SkipLast(1).Select(c => c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind), Is.All.EqualTo(JsonValueKind.Null));
    }

    [Test]
    public async Task With_include_usage_a_usage_chunk_without_choices_comes_just_before_DONE()
    {
        var (_, _, events) = await StreamAsync("astreaming", "hello", includeUsage: true);

        var chunks = Chunks(events);
        var usage = chunks[^1];
        Assert.Multiple(() =>
        {
            Assert.That(usage.GetProperty("choices").GetArrayLength(), Is.Zero);
            Assert.That(usage.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), Is.EqualTo(3));
            Assert.That(usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), Is.EqualTo(2));
            Assert.That(usage.GetProperty("usage").GetProperty("total_tokens").GetInt32(), Is.EqualTo(5));
            Assert.That(chunks.SkipLast(1).Where(c => c.TryGetProperty("usage", out _)), Is.Empty, "usage comes once, in its own chunk");
            Assert.That(chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString(), Is.EqualTo("stop"));
        });
    }

    [Test]
    public async Task Without_include_usage_no_chunk_has_usage_even_if_the_handler_reports_it()
    {
        var (_, _, events) = await StreamAsync("astreaming", "hello");

        Assert.That(Chunks(events).Where(c => c.TryGetProperty("usage", out _)), Is.Empty);
    }

    [Test]
    public async Task A_completion_only_handler_streams_its_answer_as_one_content_chunk()
    {
        var (_, _, events) = await StreamAsync("completion", "hello");

        var chunks = Chunks(events);
        Assert.That(chunks, Has.Count.EqualTo(2), string.Join("\n", events));
        Assert.Multiple(() =>
        {
            Assert.That(Delta(chunks[0]).GetProperty("role").GetString(), Is.EqualTo("assistant"));
            Assert.That(Delta(chunks[0]).GetProperty("content").GetString(), Is.EqualTo("completion:hello"));
            Assert.That(chunks[1].GetProperty("choices")[0].GetProperty("finish_reason").GetString(), Is.EqualTo("stop"));
        });
    }

    [Test]
    public async Task A_stream_the_handler_leaves_empty_still_has_a_role_a_finish_and_DONE()
    {
        var (_, _, events) = await StreamAsync("scripted", "empty-stream");

        var chunks = Chunks(events);
        Assert.That(events[^1], Is.EqualTo("[DONE]"));
        Assert.That(chunks, Has.Count.EqualTo(2), string.Join("\n", events));
        Assert.That(Delta(chunks[0]).GetProperty("role").GetString(), Is.EqualTo("assistant"));
        Assert.That(chunks[1].GetProperty("choices")[0].GetProperty("finish_reason").GetString(), Is.EqualTo("stop"));
    }

    [Test]
    public async Task Several_choices_stream_each_with_its_index_role_and_finish()
    {
        var (_, _, events) = await StreamAsync("scripted", "choices:2");

        var byIndex = Chunks(events).SelectMany(c => c.GetProperty("choices").EnumerateArray()).GroupBy(c => c.GetProperty("index").GetInt32()).ToDictionary(g => g.Key, g => g.ToList());
        Assert.That(byIndex.Keys, Is.EquivalentTo(new[] { 0, 1 }));
        foreach (var (index, choices) in byIndex)
        {
            Assert.Multiple(() =>
            {
                Assert.That(choices[0].GetProperty("delta").GetProperty("role").GetString(), Is.EqualTo("assistant"), $"choice {index}");
                Assert.That(string.Concat(choices.Select(c => c.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : "")), Is.EqualTo($"choice {index}"));
                Assert.That(choices.Where(c => c.GetProperty("finish_reason").ValueKind != JsonValueKind.Null).Select(c => c.GetProperty("finish_reason").GetString()), Is.EqualTo(new[] { "stop" }));
            });
        }
    }

    [Test]
    public async Task Each_chunk_is_sent_as_soon_as_the_handler_yields_it()
    {
        // The handler yields one chunk and then waits until it is cancelled: the chunk can only arrive if it was
        // flushed on its own, while the handler is still running.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/chat/completions") { Content = new StringContent(Body("scripted", "hang-after-first", stream: true, includeUsage: false)) };
        using var response = await _proxy.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var sse = new SseReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(Wait.DefaultTimeout);

        var first = await sse.ReadEventAsync(timeout.Token);

        using var chunk = JsonDocument.Parse(first!);
        Assert.That(Delta(chunk.RootElement).GetProperty("content").GetString(), Is.EqualTo("first"));
        Assert.That(File.Exists(Path.Combine(_markers, "cancelled")), Is.False, "the handler was still running when the chunk arrived");
    }

    /// <summary>Streams <paramref name="command"/> from <paramref name="model"/>: the content type, the cache-control header and every event.</summary>
    private async Task<(string? ContentType, string? CacheControl, List<string> Events)> StreamAsync(string model, string command, bool includeUsage = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Body(model, command, stream: true, includeUsage)) };
        using var response = await _proxy.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var sse = new SseReader(await response.Content.ReadAsStreamAsync());
        var events = await sse.ReadAllAsync();
        return (response.Content.Headers.ContentType?.MediaType, response.Headers.CacheControl?.ToString(), events);
    }

    /// <summary>Every event but <c>[DONE]</c>, parsed.</summary>
    private static List<JsonElement> Chunks(List<string> events) =>
        [.. events.Where(e => e != "[DONE]").Select(e => JsonDocument.Parse(e).RootElement)];

    private static JsonElement Delta(JsonElement chunk) => chunk.GetProperty("choices")[0].GetProperty("delta");

    private static string Body(string model, string command, bool stream, bool includeUsage) => includeUsage
        ? JsonSerializer.Serialize(new { model, stream, stream_options = new { include_usage = true }, messages = new[] { new { role = "user", content = command } } })
        : JsonSerializer.Serialize(new { model, stream, messages = new[] { new { role = "user", content = command } } });
}
