using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// <c>POST /completions</c>: the legacy text completion, as JSON (<c>text_completion</c>) or, with
/// <c>stream: true</c>, as SSE <c>text_completion</c> chunks ending with <c>data: [DONE]</c>. Handlers without
/// a text completion method answer through their chat methods (see <see cref="CustomLlm.TextCompletionAsync"/>).
/// </summary>
internal sealed class TextCompletionsEndpoint : IHandlerEndpoint<TextCompletionRequest, TextCompletionResponse>
{
    public static HandlerCapabilities Capability => HandlerCapabilities.TextCompletions;

    public static string Operation => "text_completion";

    public static Usage? UsageOf(TextCompletionResponse response) => response.Usage;

    public static Task<TextCompletionResponse> InvokeAsync(CustomLlm handler, TextCompletionRequest request, CancellationToken cancellationToken) =>
        handler.TextCompletionAsync(request, cancellationToken);

    public static bool Streams(TextCompletionRequest request) => request.Stream;

    public static HandlerStream Stream(CustomLlm handler, TextCompletionRequest request, CancellationToken cancellationToken) => new(
        handler.TextCompletionStreamingAsync(request, cancellationToken),
        new TextStreamFormat(ResponseIdentity.Create("cmpl-", request.RequestedModel)),
        request.StreamOptions?.IncludeUsage == true);

    public static TextCompletionRequest Read(JsonElement root, RequestTarget target, RequestLimits limits)
    {
        List<string>? prompt = null, stop = null;
        double? temperature = null, topP = null, presencePenalty = null, frequencyPenalty = null;
        int? maxTokens = null, n = null;
        long? seed = null;
        string? suffix = null, user = null;
        bool stream = false, echo = false;
        StreamOptions? streamOptions = null;
        var extra = new ExtraFields();
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model":
                    break;
                case "prompt":
                    prompt = ReadPrompt(value, limits);
                    break;
                case "stream":
                    stream = RequestFields.Boolean(value, "stream") == true;
                    break;
                case "max_tokens":
                    maxTokens = RequestFields.Integer(value, "max_tokens", 0);
                    break;
                case "temperature":
                    temperature = RequestFields.Number(value, "temperature", 0, 2);
                    break;
                case "top_p":
                    topP = RequestFields.Number(value, "top_p", 0, 1);
                    break;
                case "n":
                    n = RequestFields.Integer(value, "n", 1, 128);
                    break;
                case "stop":
                    stop = RequestFields.Strings(value, "stop");
                    break;
                case "suffix":
                    suffix = RequestFields.String(value, "suffix");
                    break;
                case "echo":
                    echo = RequestFields.Boolean(value, "echo") == true;
                    break;
                case "presence_penalty":
                    presencePenalty = RequestFields.Number(value, "presence_penalty", -2, 2);
                    break;
                case "frequency_penalty":
                    frequencyPenalty = RequestFields.Number(value, "frequency_penalty", -2, 2);
                    break;
                case "seed":
                    seed = RequestFields.Long(value, "seed");
                    break;
                case "user":
                    user = RequestFields.String(value, "user");
                    break;
                case "stream_options":
                    streamOptions = RequestFields.ReadStreamOptions(value);
                    break;
                default:
                    extra.Add(property);
                    break;
            }
        }

        return new TextCompletionRequest
        {
            Prompt = prompt ?? throw RequestFields.Missing("prompt"),
            Model = target.Deployment.ProviderModel,
            RequestedModel = target.RequestedModel,
            Deployment = target.Deployment.Settings,
            AdditionalProperties = extra.ToReadOnly(),
            Stream = stream,
            MaxTokens = maxTokens,
            Temperature = temperature,
            TopP = topP,
            N = n,
            Stop = stop,
            Suffix = suffix,
            Echo = echo,
            PresencePenalty = presencePenalty,
            FrequencyPenalty = frequencyPenalty,
            Seed = seed,
            User = user,
            StreamOptions = streamOptions,
        };
    }

    /// <summary><c>prompt</c>: a string or an array of strings. Token-id prompts cannot reach a text handler, so they are refused.</summary>
    private static List<string> ReadPrompt(JsonElement value, RequestLimits limits)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                return [value.GetString()!];
            case JsonValueKind.Array when value.GetArrayLength() == 0:
                throw OpenAiException.BadRequest("Invalid 'prompt': empty array. Expected an array with minimum length 1.", "prompt", "empty_array");
            case JsonValueKind.Array:
                RequestFields.AtMost(value.GetArrayLength(), limits.MaxCompletionPrompts, "prompt", "prompts", "max_completion_prompts");
                var prompts = new List<string>(value.GetArrayLength());
                foreach (var item in value.EnumerateArray())
                {
                    prompts.Add(item.ValueKind switch
                    {
                        JsonValueKind.String => item.GetString()!,
                        JsonValueKind.Number or JsonValueKind.Array => throw OpenAiException.BadRequest(
                            "Invalid 'prompt': token-id prompts are not supported by this proxy; send the prompt as text.", "prompt", "unsupported_value"),
                        _ => throw RequestFields.InvalidType("prompt", "a string or an array of strings", value),
                    });
                }

                return prompts;
            default:
                throw RequestFields.InvalidType("prompt", "a string or an array of strings", value);
        }
    }

    public static void Write(Utf8JsonWriter writer, TextCompletionRequest request, TextCompletionResponse response)
    {
        var choices = ResponseJson.Required(response.Choices, "TextCompletionResponse.Choices");
        var numbered = ResponseJson.IsNumbered(choices, static c => c.Index);
        var identity = ResponseIdentity.Create("cmpl-", request.RequestedModel);
        writer.WriteStartObject();
        writer.WriteString("id"u8, response.Id ?? identity.Id);
        writer.WriteString("object"u8, "text_completion"u8);
        writer.WriteNumber("created"u8, response.Created?.ToUnixTimeSeconds() ?? identity.Created);
        writer.WriteString("model"u8, response.Model ?? identity.Model);
        writer.WriteStartArray("choices"u8);
        for (var position = 0; position < choices.Count; position++)
        {
            var choice = ResponseJson.Item(choices[position], "TextCompletionResponse.Choices", position);
            WriteChoice(writer, numbered ? choice.Index : position, choice.Text ?? throw new InvalidAnswerException($"TextCompletionResponse.Choices[{position}].Text is null."), (choice.FinishReason ?? FinishReason.Stop).Value);
        }

        writer.WriteEndArray();
        if (response.Usage is { } usage)
        {
            ResponseJson.WriteUsage(writer, usage);
        }

        writer.WriteString("system_fingerprint"u8, response.SystemFingerprint);
        ResponseJson.WriteExtraFields(writer, response.AdditionalProperties);
        writer.WriteEndObject();
    }

    private static void WriteChoice(Utf8JsonWriter writer, int index, string text, string? finishReason)
    {
        writer.WriteStartObject();
        writer.WriteString("text"u8, text);
        writer.WriteNumber("index"u8, index);
        writer.WriteNull("logprobs"u8);
        writer.WriteString("finish_reason"u8, finishReason);
        writer.WriteEndObject();
    }

    /// <summary>
    /// <c>text_completion</c> chunks: text and finish reason share one event, each choice finishes once, and
    /// choices the handler left open finish with <c>stop</c>.
    /// </summary>
    private sealed class TextStreamFormat(ResponseIdentity identity) : IStreamFormat
    {
        private readonly SortedDictionary<int, bool> _finished = [];
        private Usage? _usage;

        public void Add(GenericStreamingChunk chunk, SseEvents events)
        {
            if (chunk.Usage is not null)
            {
                _usage = chunk.Usage;
            }

            var finishes = chunk.IsFinished || chunk.FinishReason is not null;
            if (_finished.GetValueOrDefault(chunk.Index) || (chunk.Text.Length == 0 && !finishes))
            {
                return;
            }

            _finished[chunk.Index] = finishes;
            Event(events, chunk.Index, chunk.Text, finishes ? (chunk.FinishReason ?? FinishReason.Stop).Value : null);
        }

        public void Complete(bool includeUsage, SseEvents events)
        {
            if (_finished.Count == 0)
            {
                _finished[0] = false;
            }

            foreach (var (index, finished) in _finished)
            {
                if (!finished)
                {
                    Event(events, index, "", FinishReason.Stop.Value);
                }
            }

            if (includeUsage)
            {
                var json = events.Begin();
                WriteStart(json);
                json.WriteEndArray();
                ResponseJson.WriteUsage(json, _usage ?? new Usage(0, 0));
                json.WriteEndObject();
                events.End();
            }
        }

        private void Event(SseEvents events, int index, string text, string? finishReason)
        {
            var json = events.Begin();
            WriteStart(json);
            WriteChoice(json, index, text, finishReason);
            json.WriteEndArray();
            json.WriteNull("system_fingerprint"u8);
            json.WriteEndObject();
            events.End();
        }

        private void WriteStart(Utf8JsonWriter writer)
        {
            writer.WriteStartObject();
            writer.WriteString("id"u8, identity.Id);
            writer.WriteString("object"u8, "text_completion"u8);
            writer.WriteNumber("created"u8, identity.Created);
            writer.WriteString("model"u8, identity.Model);
            writer.WriteStartArray("choices"u8);
        }
    }
}
