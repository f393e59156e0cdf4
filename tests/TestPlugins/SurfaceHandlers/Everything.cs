using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using PluginHost.Sdk;

namespace SurfaceHandlers;

/// <summary>
/// Implements every endpoint with predictable answers the tests can recompute, and reports what it received
/// in a <c>received</c> field (or, for images, inside the image bytes). A first input, prompt or query of
/// <c>fail:STATUS</c> throws <see cref="CustomLlmException"/>; <c>rate-limited:SECONDS</c>, <c>context-window</c> and
/// <c>content-policy</c> throw its typed errors; <c>hang</c> writes the file named by
/// <c>litellm_params.started_marker</c>, waits for cancellation, then writes the one named by <c>cancel_marker</c>.
/// </summary>
public sealed class Everything : CustomLlm
{
    /// <summary>Element <c>d</c> of the vector for input <c>i</c>; the tests use the same formula.</summary>
    public static float Element(int input, int d) => ((input + 1) * 0.1f) + (d / 3f);

    public override async Task<EmbeddingResponse> EmbeddingAsync(EmbeddingRequest request, CancellationToken cancellationToken)
    {
        await Script.Run(request.Input[0].Text, request.Deployment.LitellmParams, cancellationToken);
        var dimensions = request.Dimensions ?? 4;
        var vectors = request.Input.Select((_, i) => Enumerable.Range(0, dimensions).Select(d => Element(i, d)).ToArray());
        var tokens = request.Input.Sum(input => input.Tokens?.Count ?? input.Text!.Split(' ').Length);
        return EmbeddingResponse.FromVectors(vectors, new Usage(tokens, 0)) with
        {
            AdditionalProperties = Script.Received(w =>
            {
                w.WriteString("encoding_format", request.EncodingFormat);
                w.WriteNumber("dimensions", request.Dimensions ?? 0);
                w.WriteString("user", request.User);
                w.WriteStartArray("input");
                foreach (var input in request.Input)
                {
                    w.WriteStringValue(input.ToString());
                }

                w.WriteEndArray();
                Script.WriteAdditional(w, request.AdditionalProperties);
            }),
        };
    }

    public override async Task<ImageResponse> ImageGenerationAsync(ImageGenerationRequest request, CancellationToken cancellationToken)
    {
        await Script.Run(request.Prompt, request.Deployment.LitellmParams, cancellationToken);
        var images = Enumerable.Range(0, request.N ?? 1).Select(i => request.ResponseFormat == "b64_json"
            ? ImageData.FromBytes(Encoding.UTF8.GetBytes($"{request.Prompt}|{request.Size}|{request.Quality}|{request.Style}|{i}"), "revised: " + request.Prompt)
            : ImageData.FromUrl($"https://images.example/{i}.png", "revised: " + request.Prompt));
        return new ImageResponse { Data = [.. images], Created = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000) };
    }

    /// <summary>One image whose bytes are a JSON description of the edit request.</summary>
    public override async Task<ImageResponse> ImageEditAsync(ImageEditRequest request, CancellationToken cancellationToken)
    {
        await Script.Run(request.Prompt, request.Deployment.LitellmParams, cancellationToken);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("prompt", request.Prompt);
            w.WriteStartArray("images");
            foreach (var image in request.Images)
            {
                WriteFile(w, image);
            }

            w.WriteEndArray();
            w.WritePropertyName("mask");
            if (request.Mask is { } mask)
            {
                WriteFile(w, mask);
            }
            else
            {
                w.WriteNullValue();
            }

            w.WriteNumber("n", request.N ?? 0);
            w.WriteString("size", request.Size);
            w.WriteString("response_format", request.ResponseFormat);
            Script.WriteAdditional(w, request.AdditionalProperties);
            w.WriteEndObject();
        }

        return new ImageResponse { Data = [ImageData.FromBytes(stream.ToArray())] };

        static void WriteFile(Utf8JsonWriter w, ImageFile file)
        {
            w.WriteStartObject();
            w.WriteString("file_name", file.FileName);
            w.WriteString("content_type", file.ContentType);
            w.WriteString("content", Encoding.UTF8.GetString(file.Content.Span));
            w.WriteEndObject();
        }
    }

    /// <summary>Scores each document by the share of its words found in the query, in document order (the host sorts).</summary>
    public override async Task<RerankResponse> RerankAsync(RerankRequest request, CancellationToken cancellationToken)
    {
        await Script.Run(request.Query, request.Deployment.LitellmParams, cancellationToken);
        var query = request.Query.Split(' ').ToHashSet(StringComparer.OrdinalIgnoreCase);
        var results = request.Documents.Select((document, i) =>
        {
            var words = (document.Text ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return new RerankResult(i, words.Length == 0 ? 0 : words.Count(query.Contains) / (double)words.Length);
        });
        return new RerankResponse
        {
            Results = [.. results],
            Meta = new Dictionary<string, JsonElement> { ["billed_units"] = JsonDocument.Parse("""{"search_units":1}""").RootElement.Clone() },
            AdditionalProperties = Script.Received(w =>
            {
                w.WriteNumber("top_n", request.TopN ?? 0);
                w.WriteBoolean("return_documents", request.ReturnDocuments);
                Script.WriteAdditional(w, request.AdditionalProperties);
            }),
        };
    }

    /// <summary>Chat: <c>tools</c> answers with two tool calls, reasoning and provider fields; anything else is echoed as <c>chat:TEXT</c>.</summary>
    public override async Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        var said = request.Messages[^1].Content ?? "";
        await Script.Run(said, request.Deployment.LitellmParams, cancellationToken);
        if (said == "tools")
        {
            return new ModelResponse
            {
                Choices =
                [
                    new Choice
                    {
                        Message = new ResponseMessage
                        {
                            Content = "Let me check.",
                            ReasoningContent = "The user wants weather and time.",
                            ToolCalls = [.. ToolCalls.Select(c => new ToolCall { Id = c.Id, Function = new FunctionCall(c.Name, string.Concat(c.Pieces)) })],
                            ProviderSpecificFields = new Dictionary<string, JsonElement> { ["backend"] = JsonDocument.Parse("\"surface\"").RootElement.Clone() },
                        },
                    },
                ],
                Usage = new Usage(9, 8),
            };
        }

        if (said == "history")
        {
            return ModelResponse.FromText(DescribeHistory(request.Messages));
        }

        return ModelResponse.FromText("chat:" + said, new Usage(2, 3));
    }

    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var said = request.Messages[^1].Content ?? "";
        await Script.Run(said, request.Deployment.LitellmParams, cancellationToken);
        if (said != "tools")
        {
            yield return GenericStreamingChunk.FromText("chat:");
            yield return GenericStreamingChunk.FromText(said);
            yield return GenericStreamingChunk.Finished(FinishReason.Stop, new Usage(2, 3));
            yield break;
        }

        yield return new GenericStreamingChunk { ReasoningContent = "The user wants " };
        yield return new GenericStreamingChunk { ReasoningContent = "weather and time." };
        yield return new GenericStreamingChunk
        {
            Text = "Let me check.",
            ProviderSpecificFields = new Dictionary<string, JsonElement> { ["backend"] = JsonDocument.Parse("\"surface\"").RootElement.Clone() },
        };

        // The calls' pieces interleave, as a model streaming parallel calls may send them.
        for (var piece = 0; piece < 3; piece++)
        {
            for (var call = 0; call < ToolCalls.Length; call++)
            {
                var (id, name, pieces) = ToolCalls[call];
                if (piece < pieces.Length)
                {
                    yield return new GenericStreamingChunk
                    {
                        ToolUse = new ToolUse { Index = call, Id = piece == 0 ? id : null, Function = new ToolUseFunction(piece == 0 ? name : null, pieces[piece]) },
                    };
                }
            }
        }

        yield return GenericStreamingChunk.Finished(FinishReason.ToolCalls, new Usage(9, 8));
    }

    /// <summary>The tool calls of the <c>tools</c> answer, with their arguments in the pieces the stream sends.</summary>
    public static readonly (string Id, string Name, string[] Pieces)[] ToolCalls =
    [
        ("call_weather", "get_weather", ["{\"city\":", "\"Paris\",", "\"unit\":\"C\"}"]),
        ("call_time", "get_time", ["{\"zone\":\"CET\"}"]),
    ];

    private static string DescribeHistory(IReadOnlyList<ChatMessage> messages) => string.Join(" | ", messages.Select(m =>
        $"{m.Role}:{m.Content}:reasoning={m.ReasoningContent}:calls={string.Join(",", (m.ToolCalls ?? []).Select(c => $"{c.Id}/{c.Function.Name}/{c.Function.Arguments}"))}:answers={m.ToolCallId}"));
}

/// <summary>The scripted behaviours all methods share.</summary>
internal static class Script
{
    public static async Task Run(string? command, IReadOnlyDictionary<string, object?> litellmParams, CancellationToken cancellationToken)
    {
        if (command is null)
        {
            return;
        }

        if (command.StartsWith("fail:", StringComparison.Ordinal))
        {
            throw new CustomLlmException(int.Parse(command["fail:".Length..], CultureInfo.InvariantCulture), "scripted failure " + command["fail:".Length..]);
        }

        if (command.StartsWith("rate-limited:", StringComparison.Ordinal))
        {
            throw CustomLlmException.RateLimited("slow down", TimeSpan.FromSeconds(double.Parse(command["rate-limited:".Length..], CultureInfo.InvariantCulture)));
        }

        if (command == "context-window")
        {
            throw CustomLlmException.ContextWindowExceeded("This model's maximum context length is 8 tokens.");
        }

        if (command == "content-policy")
        {
            throw CustomLlmException.ContentPolicyViolation("Your request was rejected by the safety system.");
        }

        if (command == "hang")
        {
            if (litellmParams.TryGetValue("started_marker", out var started) && started is string startedPath)
            {
                await File.WriteAllTextAsync(startedPath, "started", CancellationToken.None);
            }

            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                if (litellmParams.TryGetValue("cancel_marker", out var marker) && marker is string path)
                {
                    await File.WriteAllTextAsync(path, "cancelled", CancellationToken.None);
                }

                throw;
            }
        }
    }

    /// <summary>A <c>received</c> top-level field written by <paramref name="write"/>.</summary>
    public static Dictionary<string, JsonElement> Received(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            write(w);
            w.WriteEndObject();
        }

        return new Dictionary<string, JsonElement> { ["received"] = JsonDocument.Parse(stream.ToArray()).RootElement.Clone() };
    }

    public static void WriteAdditional(Utf8JsonWriter w, IReadOnlyDictionary<string, JsonElement> additional)
    {
        w.WriteStartObject("additional");
        foreach (var (name, value) in additional)
        {
            w.WritePropertyName(name);
            value.WriteTo(w);
        }

        w.WriteEndObject();
    }
}
