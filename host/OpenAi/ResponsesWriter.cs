using System.Text.Json;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>What a response object's <c>output</c> holds, in order: reasoning, a message's text, function calls.</summary>
internal enum OutputKind
{
    Reasoning,
    Message,
    FunctionCall,
}

/// <summary>One <c>output</c> item: its id, and its text (a function call's: its arguments).</summary>
internal sealed record OutputItem(OutputKind Kind, string Id, string Text, string? CallId = null, string? Name = null);

/// <summary>A handler's answer as the Responses API shows it, built by the host from the handler's (first) choice.</summary>
internal sealed record ResponsesAnswer(IReadOnlyList<OutputItem> Output, Usage? Usage, FinishReason Finish)
{
    /// <summary>
    /// <c>completed</c>, or <c>incomplete</c> when the handler stopped at the token limit or its content filter (the
    /// response's <c>incomplete_details.reason</c>).
    /// </summary>
    public string Status => IncompleteReason is null ? "completed" : "incomplete";

    public string? IncompleteReason =>
        Finish == FinishReason.Length ? "max_output_tokens" : Finish == FinishReason.ContentFilter ? "content_filter" : null;

    /// <summary>The first choice of a completion, as output items.</summary>
    public static ResponsesAnswer From(ModelResponse response, in ResponseIdentity identity)
    {
        var choices = ResponseJson.Required(response.Choices, "ModelResponse.Choices");
        if (choices.Count == 0)
        {
            throw new InvalidAnswerException("ModelResponse.Choices is empty.");
        }

        var choice = ResponseJson.Item(choices[0], "ModelResponse.Choices", 0);
        var message = choice.Message ?? throw new InvalidAnswerException("ModelResponse.Choices[0].Message is null.");
        var output = new List<OutputItem>(2 + (message.ToolCalls?.Count ?? 0));
        if (message.ReasoningContent is { Length: > 0 } reasoning)
        {
            output.Add(new OutputItem(OutputKind.Reasoning, ItemId("rs_", identity, 0), reasoning));
        }

        var calls = message.ToolCalls ?? [];
        if (message.Content is { Length: > 0 } || calls.Count == 0)
        {
            output.Add(new OutputItem(OutputKind.Message, ItemId("msg_", identity, 0), message.Content ?? ""));
        }

        for (var i = 0; i < calls.Count; i++)
        {
            var call = calls[i] ?? throw new InvalidAnswerException($"ModelResponse.Choices[0].Message.ToolCalls[{i}] is null.");
            var function = call.Function ?? throw new InvalidAnswerException($"ModelResponse.Choices[0].Message.ToolCalls[{i}].Function is null.");
            output.Add(new OutputItem(OutputKind.FunctionCall, ItemId("fc_", identity, i), function.Arguments ?? "", call.Id, function.Name));
        }

        return new ResponsesAnswer(output, response.Usage, choice.FinishReason ?? (calls.Count > 0 ? FinishReason.ToolCalls : FinishReason.Stop));
    }

    /// <summary>An item id derived from the response's, so the items of one response share its unique part.</summary>
    public static string ItemId(string prefix, in ResponseIdentity identity, int index) =>
        $"{prefix}{identity.Id.AsSpan("resp_".Length)}{index:x2}";

    /// <summary>The assistant message the answer adds to the conversation.</summary>
    public ChatMessage ToMessage()
    {
        string? text = null, reasoning = null;
        List<ToolCall>? calls = null;
        foreach (var item in Output)
        {
            switch (item.Kind)
            {
                case OutputKind.Reasoning:
                    reasoning += item.Text;
                    break;
                case OutputKind.Message:
                    text += item.Text;
                    break;
                case OutputKind.FunctionCall:
                    (calls ??= []).Add(new ToolCall { Id = item.CallId!, Function = new FunctionCall(item.Name!, item.Text) });
                    break;
            }
        }

        return new ChatMessage { Role = ChatRole.Assistant, Content = text, ReasoningContent = reasoning, ToolCalls = calls };
    }
}

/// <summary>Writes the Responses API's <c>response</c> object and its output items.</summary>
internal static class ResponsesWriter
{
    /// <summary>
    /// The response object: <paramref name="status"/> is <c>in_progress</c> (a stream's first events, with
    /// whatever output is known), the answer's own status, or <c>failed</c> with <paramref name="error"/>.
    /// </summary>
    public static void WriteResponse(Utf8JsonWriter writer, in ResponseIdentity identity, ResponseEcho echo, string status, IReadOnlyList<OutputItem> output, Usage? usage, string? incompleteReason = null, OpenAiException? error = null)
    {
        writer.WriteStartObject();
        writer.WriteString("id"u8, identity.Id);
        writer.WriteString("object"u8, "response"u8);
        writer.WriteNumber("created_at"u8, identity.Created);
        writer.WriteString("status"u8, status);
        if (error is null)
        {
            writer.WriteNull("error"u8);
        }
        else
        {
            writer.WriteStartObject("error"u8);
            writer.WriteString("code"u8, ErrorCode(error));
            writer.WriteString("message"u8, error.Message);
            writer.WriteEndObject();
        }

        if (incompleteReason is null)
        {
            writer.WriteNull("incomplete_details"u8);
        }
        else
        {
            writer.WriteStartObject("incomplete_details"u8);
            writer.WriteString("reason"u8, incompleteReason);
            writer.WriteEndObject();
        }

        writer.WriteString("instructions"u8, echo.Instructions);
        WriteNumber(writer, "max_output_tokens"u8, echo.MaxOutputTokens);
        writer.WriteString("model"u8, identity.Model);
        writer.WriteStartArray("output"u8);
        foreach (var item in output)
        {
            WriteItem(writer, item, "completed");
        }

        writer.WriteEndArray();
        writer.WriteBoolean("parallel_tool_calls"u8, echo.ParallelToolCalls ?? true);
        writer.WriteString("previous_response_id"u8, echo.PreviousResponseId);
        WriteValue(writer, "reasoning"u8, echo.Reasoning, static w =>
        {
            w.WriteStartObject();
            w.WriteNull("effort"u8);
            w.WriteNull("summary"u8);
            w.WriteEndObject();
        });
        writer.WriteBoolean("store"u8, echo.Store);
        WriteNumber(writer, "temperature"u8, echo.Temperature ?? 1);
        WriteValue(writer, "text"u8, echo.Text, static w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("format"u8);
            w.WriteString("type"u8, "text"u8);
            w.WriteEndObject();
            w.WriteEndObject();
        });
        WriteValue(writer, "tool_choice"u8, echo.ToolChoice, static w => w.WriteStringValue("auto"u8));
        WriteValue(writer, "tools"u8, echo.Tools, static w =>
        {
            w.WriteStartArray();
            w.WriteEndArray();
        });
        WriteNumber(writer, "top_p"u8, echo.TopP ?? 1);
        writer.WriteString("truncation"u8, "disabled"u8);
        if (usage is null)
        {
            writer.WriteNull("usage"u8);
        }
        else
        {
            writer.WriteStartObject("usage"u8);
            writer.WriteNumber("input_tokens"u8, usage.PromptTokens);
            writer.WriteStartObject("input_tokens_details"u8);
            writer.WriteNumber("cached_tokens"u8, 0);
            writer.WriteEndObject();
            writer.WriteNumber("output_tokens"u8, usage.CompletionTokens);
            writer.WriteStartObject("output_tokens_details"u8);
            writer.WriteNumber("reasoning_tokens"u8, 0);
            writer.WriteEndObject();
            writer.WriteNumber("total_tokens"u8, usage.TotalTokens);
            writer.WriteEndObject();
        }

        writer.WriteString("user"u8, echo.User);
        WriteValue(writer, "metadata"u8, echo.Metadata, static w =>
        {
            w.WriteStartObject();
            w.WriteEndObject();
        });
        writer.WriteEndObject();
    }

    /// <summary>An output item; <paramref name="status"/> is <c>in_progress</c> when a stream opens it.</summary>
    public static void WriteItem(Utf8JsonWriter writer, OutputItem item, string status)
    {
        var done = status != "in_progress";
        writer.WriteStartObject();
        writer.WriteString("id"u8, item.Id);
        switch (item.Kind)
        {
            case OutputKind.Reasoning:
                writer.WriteString("type"u8, "reasoning"u8);
                writer.WriteStartArray("summary"u8);
                if (done)
                {
                    WriteSummaryPart(writer, item.Text);
                }

                writer.WriteEndArray();
                break;
            case OutputKind.Message:
                writer.WriteString("type"u8, "message"u8);
                writer.WriteString("status"u8, status);
                writer.WriteString("role"u8, "assistant"u8);
                writer.WriteStartArray("content"u8);
                if (done)
                {
                    WriteTextPart(writer, item.Text);
                }

                writer.WriteEndArray();
                break;
            case OutputKind.FunctionCall:
                writer.WriteString("type"u8, "function_call"u8);
                writer.WriteString("status"u8, status);
                writer.WriteString("call_id"u8, item.CallId);
                writer.WriteString("name"u8, item.Name);
                writer.WriteString("arguments"u8, done ? item.Text : "");
                break;
        }

        writer.WriteEndObject();
    }

    public static void WriteTextPart(Utf8JsonWriter writer, string text)
    {
        writer.WriteStartObject();
        writer.WriteString("type"u8, "output_text"u8);
        writer.WriteString("text"u8, text);
        writer.WriteStartArray("annotations"u8);
        writer.WriteEndArray();
        writer.WriteStartArray("logprobs"u8);
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public static void WriteSummaryPart(Utf8JsonWriter writer, string text)
    {
        writer.WriteStartObject();
        writer.WriteString("type"u8, "summary_text"u8);
        writer.WriteString("text"u8, text);
        writer.WriteEndObject();
    }

    /// <summary>The Responses API's error code: the handler's, or one for the status.</summary>
    private static string ErrorCode(OpenAiException error) => error.Code ?? error.Status switch
    {
        429 => "rate_limit_exceeded",
        >= 500 => "server_error",
        _ => error.Type,
    };

    private static void WriteNumber(Utf8JsonWriter writer, ReadOnlySpan<byte> name, double? value)
    {
        if (value is { } number)
        {
            writer.WriteNumber(name, number);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    /// <summary>A field as the client sent it, or its default.</summary>
    private static void WriteValue(Utf8JsonWriter writer, ReadOnlySpan<byte> name, JsonElement? sent, Action<Utf8JsonWriter> fallback)
    {
        writer.WritePropertyName(name);
        if (sent is { } value)
        {
            value.WriteTo(writer);
        }
        else
        {
            fallback(writer);
        }
    }
}
