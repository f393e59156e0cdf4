using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using PluginHost.Sdk;

namespace TestHandlers;

/// <summary>
/// Does what the last user message says, so one handler covers the error and cancellation cases:
/// <c>fail:STATUS</c> throws <see cref="CustomLlmException"/> before anything is produced;
/// <c>fail-after-first:STATUS</c> streams one chunk, then throws; <c>crash</c> throws a plain exception;
/// <c>hang</c> waits until cancelled, then writes the file named by <c>litellm_params.cancel_marker</c>;
/// <c>slow:N:MS</c> streams N chunks MS apart; anything else answers a JSON description of the request.
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

        var response = await Commands.Run(request, cancellationToken);
        yield return GenericStreamingChunk.FromText(response.Choices[0].Message.Content ?? "");
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

        if (command == "hang")
        {
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                if (request.LitellmParams.TryGetValue("cancel_marker", out var marker) && marker is string path)
                {
                    await File.WriteAllTextAsync(path, "cancelled", CancellationToken.None);
                }

                throw;
            }
        }

        return ModelResponse.FromText(Describe(request));
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
            w.WriteString("api_base", request.ApiBase);
            w.WriteString("api_key", request.ApiKey);
            w.WriteNumber("timeout_s", request.Timeout?.TotalSeconds ?? 0);
            if (request.Temperature is { } temperature)
            {
                w.WriteNumber("temperature", temperature);
            }

            if (request.MaxTokens is { } maxTokens)
            {
                w.WriteNumber("max_tokens", maxTokens);
            }

            w.WriteString("user", request.User);
            w.WriteStartArray("stop");
            foreach (var stop in request.Stop ?? [])
            {
                w.WriteStringValue(stop);
            }

            w.WriteEndArray();
            w.WriteNumber("tools", request.Tools?.Count ?? 0);
            w.WriteString("response_format", request.ResponseFormat?.Type);
            w.WriteStartArray("roles");
            foreach (var message in request.Messages)
            {
                w.WriteStringValue(message.Role.Value);
            }

            w.WriteEndArray();
            w.WriteStartArray("contents");
            foreach (var message in request.Messages)
            {
                w.WriteStringValue(message.Content);
            }

            w.WriteEndArray();
            w.WriteStartObject("additional");
            foreach (var (name, value) in request.AdditionalProperties)
            {
                w.WritePropertyName(name);
                value.WriteTo(w);
            }

            w.WriteEndObject();
            w.WriteStartObject("litellm_params");
            foreach (var (name, value) in request.LitellmParams)
            {
                w.WriteString(name, Convert.ToString(value, CultureInfo.InvariantCulture));
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
