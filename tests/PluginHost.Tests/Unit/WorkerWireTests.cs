using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;
using PluginHost.Workers;

namespace PluginHost.Tests.Unit;

/// <summary>
/// <see cref="WorkerJson"/>: the SDK records as they cross a worker's socket, and the isolation keys of
/// <c>custom_provider_map</c>, without a host or a process.
/// </summary>
public sealed class WorkerWireTests
{
    private static T RoundTrip<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(value, info), info)!;

    [Test]
    public void Litellm_params_keep_the_plain_types_the_configuration_reader_gives_them()
    {
        var deployment = ConfigReader.Parse(
            """
            model_list:
              - model_name: m
                litellm_params:
                  model: p/m
                  api_base: http://x.example
                  timeout: 2.5
                  delay_ms: 300
                  ratio: 0.5
                  flag: true
                  name: "300"
                  nothing: null
                  names: [a, 2, false]
                  nested: { depth: 1, list: [1.5] }
            litellm_settings:
              custom_provider_map:
                - { provider: p, custom_handler: X }
            """,
            "plugins.yaml").Models[0].Settings;
        var request = new ChatCompletionRequest { Model = "m", RequestedModel = "m", Messages = [ChatMessage.Create(ChatRole.User, "hi")], Deployment = deployment };

        var crossed = RoundTrip(request, WorkerJson.Default.ChatCompletionRequest).Deployment;

        Assert.That(crossed.ApiBase, Is.EqualTo("http://x.example"));
        Assert.That(crossed.Timeout, Is.EqualTo(TimeSpan.FromSeconds(2.5)));
        Assert.That(crossed.LitellmParams["delay_ms"], Is.TypeOf<long>().And.EqualTo(300L));
        Assert.That(crossed.LitellmParams["ratio"], Is.TypeOf<double>().And.EqualTo(0.5));
        Assert.That(crossed.LitellmParams["flag"], Is.EqualTo(true));
        Assert.That(crossed.LitellmParams["name"], Is.EqualTo("300"));
        Assert.That(crossed.LitellmParams["nothing"], Is.Null);
        Assert.That(crossed.LitellmParams["names"], Is.EqualTo(new object?[] { "a", 2L, false }));
        var nested = (IReadOnlyDictionary<string, object?>)crossed.LitellmParams["nested"]!;
        Assert.That(nested["depth"], Is.EqualTo(1L));
        Assert.That(nested["list"], Is.EqualTo(new object?[] { 1.5 }));
        Assert.That(crossed.LitellmParams.Keys, Is.EquivalentTo(deployment.LitellmParams.Keys));
    }

    [Test]
    public void A_chat_request_crosses_with_its_messages_parts_tools_and_extra_fields()
    {
        using var raw = JsonDocument.Parse("""{"type":"image_url","image_url":{"url":"u"}}""");
        using var extra = JsonDocument.Parse("""{"x":[1,null]}""");
        var request = new ChatCompletionRequest
        {
            Model = "m",
            RequestedModel = "asked",
            Messages =
            [
                new ChatMessage { Role = new ChatRole("custom"), ContentParts = [new ContentPart { Type = "image_url", Raw = raw.RootElement.Clone() }] },
                new ChatMessage { Role = ChatRole.Assistant, ToolCalls = [new ToolCall { Id = "c", Function = new FunctionCall("f", "{}") }] },
            ],
            Stream = true,
            Temperature = 0.1,
            Stop = ["a"],
            Tools = [new ChatTool { Function = new FunctionDefinition { Name = "f" } }],
            StreamOptions = new StreamOptions { IncludeUsage = true },
            AdditionalProperties = new Dictionary<string, JsonElement> { ["vendor"] = extra.RootElement.Clone() },
        };

        var crossed = RoundTrip(request, WorkerJson.Default.ChatCompletionRequest);

        Assert.That(crossed.Messages[0].Role.Value, Is.EqualTo("custom"));
        Assert.That(crossed.Messages[0].ContentParts![0].Raw.GetRawText(), Is.EqualTo(raw.RootElement.GetRawText()));
        Assert.That(crossed.Messages[1].ToolCalls![0].Function, Is.EqualTo(new FunctionCall("f", "{}")));
        Assert.That(crossed.Temperature, Is.EqualTo(0.1));
        Assert.That(crossed.Stop, Is.EqualTo(new[] { "a" }));
        Assert.That(crossed.Tools![0].Function.Name, Is.EqualTo("f"));
        Assert.That(crossed.StreamOptions!.IncludeUsage, Is.True);
        Assert.That(crossed.AdditionalProperties["vendor"].GetRawText(), Is.EqualTo("""{"x":[1,null]}"""));
        Assert.That(crossed.RequestedModel, Is.EqualTo("asked"));
    }

    [Test]
    public void Responses_and_chunks_cross_with_their_usage_vectors_and_bytes()
    {
        var response = ModelResponse.FromText("hi", new Usage(3, 4) { TotalTokens = 9 }, new FinishReason("odd"));
        var embedding = EmbeddingResponse.FromVectors([new[] { 0.1f, 1f / 3 }]);
        var edit = new ImageEditRequest { Model = "m", RequestedModel = "m", Prompt = "p", Images = [new ImageFile { FileName = "a.png", Content = new byte[] { 0, 1, 255 } }] };
        var rerank = new RerankRequest { Model = "m", RequestedModel = "m", Query = "q", Documents = [new RerankDocument { Text = "d" }], ReturnDocuments = false };

        Assert.That(RoundTrip(response, WorkerJson.Default.ModelResponse).Usage, Is.EqualTo(new Usage(3, 4) { TotalTokens = 9 }));
        Assert.That(RoundTrip(response, WorkerJson.Default.ModelResponse).Choices[0].FinishReason, Is.EqualTo(new FinishReason("odd")));
        Assert.That(RoundTrip(embedding, WorkerJson.Default.EmbeddingResponse).Data[0].Vector.ToArray(), Is.EqualTo(new[] { 0.1f, 1f / 3 }));
        Assert.That(RoundTrip(edit, WorkerJson.Default.ImageEditRequest).Images[0].Content.ToArray(), Is.EqualTo(new byte[] { 0, 1, 255 }));
        Assert.That(RoundTrip(rerank, WorkerJson.Default.RerankRequest).ReturnDocuments, Is.False);
        Assert.That(RoundTrip(new StreamFrame(GenericStreamingChunk.Finished(usage: new Usage(1, 2)), null), WorkerJson.Default.StreamFrame).Chunk!.Usage, Is.EqualTo(new Usage(1, 2)));
    }

    [Test]
    public void A_handler_error_crosses_with_its_status_type_code_param_and_retry_after()
    {
        var thrown = new CustomLlmException(429, "slow down") { ErrorType = "t", ErrorCode = "c", Param = "p", RetryAfter = TimeSpan.FromSeconds(1.5) };

        var crossed = (CustomLlmException)RoundTrip(WorkerError.From(thrown), WorkerJson.Default.WorkerError).ToException();

        Assert.That((crossed.StatusCode, crossed.Message, crossed.ErrorType, crossed.ErrorCode, crossed.Param, crossed.RetryAfter), Is.EqualTo((429, "slow down", "t", "c", "p", (TimeSpan?)TimeSpan.FromSeconds(1.5))));
        Assert.That(WorkerError.From(new InvalidOperationException("boom")).ToException().Message, Is.EqualTo("failed: InvalidOperationException: boom"));
    }

    [Test]
    public void Isolation_keys_are_read_with_their_defaults_and_mistakes_name_the_key()
    {
        const string Models = "model_list:\n  - model_name: m\n    litellm_params:\n      model: a/m\n";
        var config = ConfigReader.Parse(Models + """
            litellm_settings:
              custom_provider_map:
                - { provider: a, custom_handler: "X:One", isolation: process, worker_memory_mb: 64, worker_request_timeout: 2.5 }
                - { provider: b, custom_handler: "X:Two", isolation: process, worker_memory_mb: 64, worker_request_timeout: 2.5 }
                - { provider: c, custom_handler: Y, isolation: in_process }
                - { provider: d, custom_handler: Z }
            """, "plugins.yaml");

        Assert.That(config.Providers[0].Worker, Is.EqualTo(new WorkerSettings { MemoryMb = 64, RequestTimeout = TimeSpan.FromSeconds(2.5) }));
        Assert.That(config.Providers[0].Worker!.CrashLimit, Is.EqualTo(3));
        Assert.That(config.Providers[0].Worker!.CircuitOpen, Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(config.Providers[2].Worker, Is.Null);
        Assert.That(config.Providers[3].Worker, Is.Null);

        Assert.That(() => ConfigReader.Parse(Models + "litellm_settings:\n  custom_provider_map:\n    - { provider: a, custom_handler: X, isolation: process, worker_memory_mb: 1 }\n", "plugins.yaml"),
            Throws.TypeOf<ConfigException>().With.Message.Contains("custom_provider_map[0].worker_memory_mb '1' is not a whole number of at least 16"));
        Assert.That(() => ConfigReader.Parse(Models + "litellm_settings:\n  custom_provider_map:\n    - { provider: a, custom_handler: X, isolation: process, worker_request_timeout: 0 }\n", "plugins.yaml"),
            Throws.TypeOf<ConfigException>().With.Message.Contains("custom_provider_map[0].worker_request_timeout '0'"));
        Assert.That(() => ConfigReader.Parse(Models + "litellm_settings:\n  custom_provider_map:\n    - { provider: a, custom_handler: \"X:One\", isolation: process }\n    - { provider: b, custom_handler: \"X:Two\" }\n", "plugins.yaml"),
            Throws.TypeOf<ConfigException>().With.Message.Contains("custom_provider_map[1]: the isolation settings differ from those of provider 'a', which maps the same assembly X"));
    }
}
