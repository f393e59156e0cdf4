using System.Net;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>The legacy <c>POST /completions</c>, both modes, through chat or a handler's own text methods.</summary>
public sealed class TextCompletionsTests
{
    private static readonly string Config = Yaml.Config(
        new Model("chatty", "SurfaceHandlers:Everything"),
        new Model("texty", "SurfaceHandlers:TextStreamingOnly"));

    [Test]
    public async Task Without_a_text_method_each_prompt_is_answered_by_the_chat_handler()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/v1/completions", """{"model":"chatty","prompt":["first","second"],"max_tokens":5}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var root = response.Json;
        var choices = root.GetProperty("choices").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("object").GetString(), Is.EqualTo("text_completion"));
            Assert.That(root.GetProperty("id").GetString(), Does.StartWith("cmpl-"));
            Assert.That(root.GetProperty("model").GetString(), Is.EqualTo("chatty"));
            Assert.That(choices.Select(c => c.GetProperty("text").GetString()), Is.EqualTo(new[] { "chat:first", "chat:second" }));
            Assert.That(choices.Select(c => c.GetProperty("index").GetInt32()), Is.EqualTo(new[] { 0, 1 }));
            Assert.That(choices.Select(c => c.GetProperty("finish_reason").GetString()), Is.EqualTo(new[] { "stop", "stop" }));
            Assert.That(root.GetProperty("usage").GetProperty("total_tokens").GetInt32(), Is.EqualTo(10), "usage summed over the prompts");
        });
    }

    [Test]
    public async Task Echo_repeats_the_prompt_before_the_completion()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/completions", """{"model":"chatty","prompt":"say ","echo":true}""");

        Assert.That(response.Json.GetProperty("choices")[0].GetProperty("text").GetString(), Is.EqualTo("say chat:say "));
    }

    [Test]
    public async Task A_streamed_completion_through_chat_sends_text_completion_chunks_then_usage_then_done()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/v1/completions", """{"model":"chatty","prompt":"hello","stream":true,"stream_options":{"include_usage":true}}""");

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.OK), response.Body);
        var events = response.Events;
        var withChoices = events.Where(e => e.GetProperty("choices").GetArrayLength() > 0).Select(e => e.GetProperty("choices")[0]).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(events.Select(e => e.GetProperty("object").GetString()).Distinct(), Is.EqualTo(new[] { "text_completion" }));
            Assert.That(events.Select(e => e.GetProperty("id").GetString()).Distinct().Count(), Is.EqualTo(1));
            Assert.That(string.Concat(withChoices.Select(c => c.GetProperty("text").GetString())), Is.EqualTo("chat:hello"));
            Assert.That(withChoices.Count(c => c.GetProperty("text").GetString()!.Length > 0), Is.EqualTo(2), "one event per chunk");
            Assert.That(withChoices[^1].GetProperty("finish_reason").GetString(), Is.EqualTo("stop"));
            Assert.That(events[^1].GetProperty("usage").GetProperty("total_tokens").GetInt32(), Is.EqualTo(5));
            Assert.That(response.EndsWithDone, Is.True);
        });
    }

    [Test]
    public async Task A_handler_with_its_own_text_stream_serves_both_modes_without_chat()
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var whole = await proxy.PostJsonAsync("/completions", """{"model":"texty","prompt":["a","b"]}""");
        var streamed = await proxy.PostJsonAsync("/completions", """{"model":"texty","prompt":["a","b"],"stream":true}""");

        var choices = whole.Json.GetProperty("choices").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(choices.Select(c => c.GetProperty("text").GetString()), Is.EqualTo(new[] { "text:a", "text:b" }));
            Assert.That(choices.Select(c => c.GetProperty("finish_reason").GetString()), Is.EqualTo(new[] { "length", "length" }));
            Assert.That(whole.Json.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), Is.EqualTo(6));
        });
        var pieces = streamed.Events.Select(e => e.GetProperty("choices")[0]).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(string.Concat(pieces.Where(p => p.GetProperty("index").GetInt32() == 1).Select(p => p.GetProperty("text").GetString())), Is.EqualTo("text:b"));
            Assert.That(pieces.Count(p => p.GetProperty("finish_reason").GetString() == "length"), Is.EqualTo(2));
            Assert.That(streamed.EndsWithDone, Is.True);
        });
    }

    [TestCase("""{"model":"chatty"}""", "prompt", "missing_required_parameter")]
    [TestCase("""{"model":"chatty","prompt":5}""", "prompt", "invalid_type")]
    [TestCase("""{"model":"chatty","prompt":[]}""", "prompt", "empty_array")]
    [TestCase("""{"model":"chatty","prompt":[1,2]}""", "prompt", "unsupported_value")]
    [TestCase("""{"model":"chatty","prompt":"p","max_tokens":-1}""", "max_tokens", "invalid_value")]
    [TestCase("""{"model":"chatty","prompt":"p","stream":"yes"}""", "stream", "invalid_type")]
    [TestCase("""{"model":"chatty","prompt":"p","temperature":3}""", "temperature", "invalid_value")]
    [TestCase("""{"model":"chatty","prompt":"p","stop":[1]}""", "stop", "invalid_type")]
    public async Task Bad_input_is_a_400_naming_the_parameter(string body, string param, string code)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/completions", body);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        var (_, actualParam, actualCode) = response.Error();
        Assert.That((actualParam, actualCode), Is.EqualTo((param, code)));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_handler_status_code_reaches_the_client_in_both_modes(bool stream)
    {
        await using var proxy = await TestProxy.StartAsync(Config, "SurfaceHandlers");

        var response = await proxy.PostJsonAsync("/completions", $$"""{"model":"chatty","prompt":"fail:418","stream":{{(stream ? "true" : "false")}}}""");

        Assert.That((int)response.Status, Is.EqualTo(418), response.Body);
        Assert.That(response.Error().Message, Is.EqualTo("scripted failure 418"));
    }
}
