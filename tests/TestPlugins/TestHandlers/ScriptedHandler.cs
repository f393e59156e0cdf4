using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using PluginHost.Sdk;

namespace TestHandlers;

/// <summary>
/// Does what the last user message says, so one handler covers the error and cancellation cases:
/// <c>fail:STATUS</c> throws <see cref="CustomLlmException"/> before anything is produced;
/// <c>fail-after-first:STATUS</c> streams one chunk, then throws; <c>crash</c> throws a plain exception;
/// <c>crash-after-first</c> streams one chunk, then throws a plain exception; <c>null-chunk-after-first</c>
/// streams one chunk, then a null one; <c>empty-stream</c> streams nothing;
/// <c>hang</c> writes the file named by <c>litellm_params.started_marker</c>, waits until cancelled, then writes
/// the file named by <c>litellm_params.cancel_marker</c>; <c>hang-after-first</c> streams one chunk, then hangs
/// the same way; <c>slow:N:MS</c> streams N chunks MS apart; <c>null</c> returns null instead of a response;
/// <c>null-message</c> returns a response whose second choice has a null message;
/// <c>block:MS</c> blocks its thread for MS milliseconds (<see cref="Thread.Sleep(int)"/>, as a handler doing
/// synchronous I/O would), then answers "unblocked"; <c>tool-call</c> answers one <c>get_weather</c> tool call; <c>choices:N</c> answers N choices;
/// anything else answers a JSON description of the request (with no usage).
/// </summary>
public sealed class Scripted : CustomLlm
{
    public override Task<ModelResponse> CompletionAsync(ChatCompletionRequest request, CancellationToken cancellationToken) =>
        Commands.Run(request, cancellationToken);

    public override async IAsyncEnumerable<GenericStreamingChunk> StreamingAsync(ChatCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var command = request.Messages[^1].Content ?? "";
        if (command.StartsWith("fail-after-first:", StringComparison.Ordinal))
        {
            yield return GenericStreamingChunk.FromText("first");
            await Task.Yield();
            throw new CustomLlmException(int.Parse(command["fail-after-first:".Length..], CultureInfo.InvariantCulture), "failed after the first chunk");
        }

        if (command == "crash-after-first")
        {
            yield return GenericStreamingChunk.FromText("first");
            await Task.Yield();
            throw new InvalidOperationException("boom after the first chunk");
        }

        if (command == "empty-stream")
        {
            yield break;
        }

        if (command == "null-chunk-after-first")
        {
            yield return GenericStreamingChunk.FromText("first");
            yield return null!;
        }

        if (command == "bad-chunk-after-first")
        {
            // A tool call without its function: a handler bug the host must report, not drop the connection over.
            yield return GenericStreamingChunk.FromText("first");
            yield return new GenericStreamingChunk { ToolUse = new ToolUse { Function = null! } };
        }

        if (command == "hang-after-first")
        {
            yield return GenericStreamingChunk.FromText("first");
            await Commands.Hang(request, cancellationToken);
        }

        if (command.StartsWith("slow:", StringComparison.Ordinal))
        {
            var parts = command.Split(':');
            var count = int.Parse(parts[1], CultureInfo.InvariantCulture);
            var delay = int.Parse(parts[2], CultureInfo.InvariantCulture);
            for (var i = 0; i < count; i++)
            {
                if (i > 0)
                {
                    await Task.Delay(delay, cancellationToken);
                }

                yield return GenericStreamingChunk.FromText($"[{i}]");
            }

            yield break;
        }

        // Everything else is the completion, streamed by the SDK's completion-to-chunks fallback.
        await foreach (var chunk in base.StreamingAsync(request, cancellationToken))
        {
            yield return chunk;
        }
    }
}

internal static class Commands
{
    public static async Task<ModelResponse> Run(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        var command = request.Messages[^1].Content ?? "";
        if (command.StartsWith("fail:", StringComparison.Ordinal))
        {
            throw new CustomLlmException(int.Parse(command["fail:".Length..], CultureInfo.InvariantCulture), "scripted failure " + command["fail:".Length..]);
        }

        if (command == "crash")
        {
            throw new InvalidOperationException("boom");
        }

        if (command.StartsWith("block:", StringComparison.Ordinal))
        {
            Thread.Sleep(int.Parse(command["block:".Length..], CultureInfo.InvariantCulture));
            return ModelResponse.FromText("unblocked");
        }

        if (command == "hang")
        {
            await Hang(request, cancellationToken);
        }

        if (command == "null")
        {
            return null!;
        }

        if (command == "null-message")
        {
            return new ModelResponse { Choices = [new Choice { Message = new ResponseMessage { Content = "partial" } }, new Choice { Message = null! }] };
        }

        if (command == "tool-call")
        {
            return new ModelResponse
            {
                Choices =
                [
                    new Choice
                    {
                        Message = new ResponseMessage
                        {
                            ToolCalls = [new ToolCall { Id = "call_weather_1", Function = new FunctionCall("get_weather", "{\"city\":\"Paris\"}") }],
                        },
                    },
                ],
                Usage = new Usage(7, 5),
            };
        }

        if (command.StartsWith("choices:", StringComparison.Ordinal))
        {
            var count = int.Parse(command["choices:".Length..], CultureInfo.InvariantCulture);
            return new ModelResponse
            {
                Choices = [.. Enumerable.Range(0, count).Select(i => new Choice { Index = i, Message = new ResponseMessage { Content = $"choice {i}" }, FinishReason = FinishReason.Stop })],
                Usage = new Usage(1, count),
            };
        }

        return ModelResponse.FromText(Describe(request));
    }

    /// <summary>Writes the started marker, waits until cancelled, writes the cancel marker and rethrows.</summary>
    public static async Task Hang(ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        if (request.Deployment.LitellmParams.TryGetValue("started_marker", out var started) && started is string startedPath)
        {
            await File.WriteAllTextAsync(startedPath, "started", CancellationToken.None);
        }

        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            if (request.Deployment.LitellmParams.TryGetValue("cancel_marker", out var marker) && marker is string path)
            {
                await File.WriteAllTextAsync(path, "cancelled", CancellationToken.None);
            }

            throw;
        }
    }

    /// <summary>What the handler received, as JSON, so tests can check the request record.</summary>
    private static string Describe(ChatCompletionRequest request)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("model", request.Model);
            w.WriteString("requested_model", request.RequestedModel);
            w.WriteBoolean("stream", request.Stream);
            w.WriteString("api_base", request.Deployment.ApiBase);
            w.WriteString("api_key", request.Deployment.ApiKey);
            w.WriteNumber("timeout_s", request.Deployment.Timeout?.TotalSeconds ?? 0);
            WriteNumber(w, "temperature", request.Temperature);
            WriteNumber(w, "top_p", request.TopP);
            WriteNumber(w, "max_tokens", request.MaxTokens);
            WriteNumber(w, "max_completion_tokens", request.MaxCompletionTokens);
            WriteNumber(w, "n", request.N);
            WriteNumber(w, "seed", request.Seed);
            WriteNumber(w, "presence_penalty", request.PresencePenalty);
            WriteNumber(w, "frequency_penalty", request.FrequencyPenalty);
            w.WriteString("user", request.User);
            w.WriteStartArray("stop");
            foreach (var stop in request.Stop ?? [])
            {
                w.WriteStringValue(stop);
            }

            w.WriteEndArray();
            w.WriteStartArray("tools");
            foreach (var tool in request.Tools ?? [])
            {
                w.WriteStringValue($"{tool.Type}:{tool.Function.Name}:{tool.Function.Parameters?.GetRawText()}");
            }

            w.WriteEndArray();
            if (request.ToolChoice is { } toolChoice)
            {
                w.WritePropertyName("tool_choice");
                toolChoice.WriteTo(w);
            }
            if (request.ParallelToolCalls is { } parallel)
            {
                w.WriteBoolean("parallel_tool_calls", parallel);
            }

            w.WriteString("response_format", request.ResponseFormat?.Type);
            w.WriteString("response_format_schema", request.ResponseFormat?.JsonSchema?.GetRawText());
            if (request.StreamOptions is { } streamOptions)
            {
                w.WriteBoolean("include_usage", streamOptions.IncludeUsage);
            }

            w.WriteStartArray("messages");
            foreach (var message in request.Messages)
            {
                w.WriteStartObject();
                w.WriteString("role", message.Role.Value);
                w.WriteString("content", message.Content);
                w.WriteString("name", message.Name);
                w.WriteString("tool_call_id", message.ToolCallId);
                if (message.ContentParts is { } parts)
                {
                    w.WriteStartArray("parts");
                    foreach (var part in parts)
                    {
                        w.WriteStringValue($"{part.Type}:{part.Text ?? part.Raw.GetRawText()}");
                    }

                    w.WriteEndArray();
                }

                if (message.ToolCalls is { } calls)
                {
                    w.WriteStartArray("tool_calls");
                    foreach (var call in calls)
                    {
                        w.WriteStringValue($"{call.Id}:{call.Function.Name}:{call.Function.Arguments}");
                    }

                    w.WriteEndArray();
                }

                WriteProperties(w, "additional", message.AdditionalProperties);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            WriteProperties(w, "additional", request.AdditionalProperties);
            w.WriteStartObject("litellm_params");
            foreach (var (name, value) in request.Deployment.LitellmParams)
            {
                w.WriteString(name, Convert.ToString(value, CultureInfo.InvariantCulture));
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteNumber(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } number)
        {
            w.WriteNumber(name, number);
        }
    }

    private static void WriteProperties(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, JsonElement> properties)
    {
        w.WriteStartObject(name);
        foreach (var (key, value) in properties)
        {
            w.WritePropertyName(key);
            value.WriteTo(w);
        }

        w.WriteEndObject();
    }
}
