using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace BridgeHandlers;

/// <summary>
/// A hand-written <see cref="IChatClient"/> fake. The last user message picks the answer: <c>tools</c> calls two
/// functions (with reasoning, text, usage and an additional property); <c>answered</c> returns a call together
/// with its result, as a function-invoking client does; anything else describes, as JSON text, exactly what
/// the client received (messages, contents and options), so tests can check the request mapping.
/// </summary>
public sealed class FakeChatClient : IChatClient
{
    public static readonly (string Id, string Name, Dictionary<string, object?> Arguments)[] Calls =
    [
        ("call_1", "get_weather", new() { ["city"] = "Paris", ["days"] = 3 }),
        ("call_2", "get_time", new() { ["zone"] = "CET", ["precise"] = true }),
    ];

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var history = messages.ToList();
        var said = history.LastOrDefault(m => m.Role == ChatRole.User)?.Text;
        var response = said switch
        {
            "tools" => new ChatResponse(new ChatMessage(ChatRole.Assistant, [new TextReasoningContent("Two lookups needed."), new TextContent("Calling tools."), .. Calls.Select(c => new FunctionCallContent(c.Id, c.Name, c.Arguments))]))
            {
                FinishReason = ChatFinishReason.ToolCalls,
            },
            "answered" => new ChatResponse(
            [
                new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("call_done", "get_time")]),
                new ChatMessage(ChatRole.Tool, [new FunctionResultContent("call_done", "12:00")]),
                new ChatMessage(ChatRole.Assistant, "It is noon."),
            ]),
            _ => new ChatResponse(new ChatMessage(ChatRole.Assistant, Describe(history, options))),
        };
        response.ResponseId = "fake-response";
        response.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 7, TotalTokenCount = 12 };
        response.AdditionalProperties = new() { ["backend"] = "fake", ["latency_ms"] = 3 };
        return Task.FromResult(response);
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var history = messages.ToList();
        if (history.LastOrDefault(m => m.Role == ChatRole.User)?.Text != "tools")
        {
            var text = Describe(history, options);
            yield return new ChatResponseUpdate(ChatRole.Assistant, text[..(text.Length / 2)]);
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, text[(text.Length / 2)..]) { FinishReason = ChatFinishReason.Stop };
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = 5, OutputTokenCount = 7, TotalTokenCount = 12 })]);
            yield break;
        }

        yield return new ChatResponseUpdate(ChatRole.Assistant, [new TextReasoningContent("Two lookups ")]);
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new TextReasoningContent("needed.")]);
        yield return new ChatResponseUpdate(ChatRole.Assistant, "Calling");
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, " tools.");
        foreach (var (id, name, arguments) in Calls)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new FunctionCallContent(id, name, arguments)]);
        }

        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = 5, OutputTokenCount = 7, TotalTokenCount = 12 })])
        {
            FinishReason = ChatFinishReason.ToolCalls,
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }

    /// <summary>What the client received, as JSON.</summary>
    private static string Describe(List<ChatMessage> messages, ChatOptions? options)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteStartArray("messages");
            foreach (var message in messages)
            {
                w.WriteStartObject();
                w.WriteString("role", message.Role.Value);
                w.WriteString("author", message.AuthorName);
                w.WriteStartArray("contents");
                foreach (var content in message.Contents)
                {
                    w.WriteStringValue(content switch
                    {
                        TextContent t => $"text:{t.Text}",
                        TextReasoningContent r => $"reasoning:{r.Text}",
                        FunctionCallContent c => $"call:{c.CallId}:{c.Name}:{string.Join(",", (c.Arguments ?? new Dictionary<string, object?>()).Select(a => $"{a.Key}={a.Value}"))}",
                        FunctionResultContent r => $"result:{r.CallId}:{r.Result}",
                        DataContent d => $"data:{d.MediaType}:{d.Data.Length}",
                        UriContent u => $"uri:{u.Uri}",
                        _ => $"other:{content.GetType().Name}",
                    });
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("options");
            w.WriteString("model_id", options?.ModelId);
            w.WriteNumber("temperature", options?.Temperature ?? -1);
            w.WriteNumber("max_output_tokens", options?.MaxOutputTokens ?? -1);
            w.WriteString("stop", string.Join(",", options?.StopSequences ?? []));
            w.WriteString("tools", string.Join(",", (options?.Tools ?? []).Select(t => t.Name)));
            w.WriteString("tool_mode", options?.ToolMode switch
            {
                RequiredChatToolMode { RequiredFunctionName: { } name } => $"require:{name}",
                RequiredChatToolMode => "require-any",
                NoneChatToolMode => "none",
                AutoChatToolMode => "auto",
                _ => null,
            });
            w.WriteString("response_format", options?.ResponseFormat switch
            {
                ChatResponseFormatJson { Schema: { } } => "json-schema",
                ChatResponseFormatJson => "json",
                ChatResponseFormatText => "text",
                _ => null,
            });
            w.WriteString("additional", string.Join(",", (options?.AdditionalProperties ?? []).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")));
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}

/// <summary>Vector i is <c>[text length, i, 0.25]</c>.</summary>
public sealed class FakeEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var embeddings = new GeneratedEmbeddings<Embedding<float>>(values.Select((text, i) => new Embedding<float>(new[] { text.Length, i, 0.25f })))
        {
            Usage = new UsageDetails { InputTokenCount = 11, TotalTokenCount = 11 },
        };
        return Task.FromResult(embeddings);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}
