using System.Runtime.CompilerServices;

namespace PluginHost.Sdk;

public abstract partial class CustomLlm
{
    /// <summary>
    /// LiteLLM's <c>text_completion</c>: answers a legacy <c>prompt</c> synchronously. Without any text
    /// completion override, each prompt is answered by the chat methods as a single user message.
    /// </summary>
    /// <exception cref="CustomLlmException">Status 500 when neither a text completion nor a chat method is overridden.</exception>
    public virtual TextCompletionResponse TextCompletion(TextCompletionRequest request)
    {
        if (Overrides(Method.TextCompletionAsync))
        {
            return TextCompletionAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        }

        if (Overrides(Method.TextCompletionStreaming))
        {
            return TextCompletions.FromModelResponse(StreamAggregator.Aggregate(TextCompletionStreaming(request)));
        }

        if (Overrides(Method.TextCompletionStreamingAsync))
        {
            var aggregate = StreamAggregator.AggregateAsync(TextCompletionStreamingAsync(request, CancellationToken.None), CancellationToken.None);
            return TextCompletions.FromModelResponse(aggregate.GetAwaiter().GetResult());
        }

        var answers = new ModelResponse[request.Prompt.Count];
        for (var i = 0; i < answers.Length; i++)
        {
            answers[i] = Completion(request.ToChatCompletionRequest(i));
        }

        return TextCompletions.FromChatAnswers(request, answers);
    }

    /// <summary>
    /// A legacy text completion in pieces, synchronously: each <see cref="GenericStreamingChunk"/>'s
    /// <see cref="GenericStreamingChunk.Text"/> is appended to the choice at its <see cref="GenericStreamingChunk.Index"/>.
    /// </summary>
    /// <exception cref="CustomLlmException">Status 500 when neither a text completion nor a chat method is overridden.</exception>
    public virtual IEnumerable<GenericStreamingChunk> TextCompletionStreaming(TextCompletionRequest request)
    {
        if (Overrides(Method.TextCompletionStreamingAsync))
        {
            return StreamAggregator.ToEnumerable(TextCompletionStreamingAsync(request, CancellationToken.None));
        }

        if (Overrides(Method.TextCompletion))
        {
            return StreamAggregator.ToChunks(TextCompletions.ToModelResponse(TextCompletion(request)));
        }

        if (Overrides(Method.TextCompletionAsync))
        {
            return StreamAggregator.ToChunks(TextCompletions.ToModelResponse(TextCompletionAsync(request, CancellationToken.None).GetAwaiter().GetResult()));
        }

        return TextThroughChat(request);
    }

    /// <summary>
    /// LiteLLM's <c>atext_completion</c>: answers a legacy <c>prompt</c>. The host calls this one for
    /// <c>POST /completions</c> without <c>stream: true</c>. Without any text completion override, each prompt
    /// is answered by the chat methods as a single user message (choices numbered <c>prompt × n + choice</c>).
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <exception cref="CustomLlmException">Status 500 when neither a text completion nor a chat method is overridden.</exception>
    public virtual async Task<TextCompletionResponse> TextCompletionAsync(TextCompletionRequest request, CancellationToken cancellationToken)
    {
        if (Overrides(Method.TextCompletion))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return TextCompletion(request);
        }

        if (Overrides(Method.TextCompletionStreamingAsync))
        {
            return TextCompletions.FromModelResponse(await StreamAggregator.AggregateAsync(TextCompletionStreamingAsync(request, cancellationToken), cancellationToken).ConfigureAwait(false));
        }

        if (Overrides(Method.TextCompletionStreaming))
        {
            cancellationToken.ThrowIfCancellationRequested();
            return TextCompletions.FromModelResponse(StreamAggregator.Aggregate(TextCompletionStreaming(request), cancellationToken));
        }

        var answers = new ModelResponse[request.Prompt.Count];
        for (var i = 0; i < answers.Length; i++)
        {
            answers[i] = await CompletionAsync(request.ToChatCompletionRequest(i), cancellationToken).ConfigureAwait(false);
        }

        return TextCompletions.FromChatAnswers(request, answers);
    }

    /// <summary>
    /// A legacy text completion in pieces. The host calls this one for <c>POST /completions</c> with
    /// <c>stream: true</c> and writes each chunk's text as soon as it is yielded. Without any text completion
    /// override, the chat methods stream each prompt in turn.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the client disconnects or the deployment's timeout passes.</param>
    /// <exception cref="CustomLlmException">Status 500 when neither a text completion nor a chat method is overridden.</exception>
    public virtual IAsyncEnumerable<GenericStreamingChunk> TextCompletionStreamingAsync(TextCompletionRequest request, CancellationToken cancellationToken)
    {
        if (Overrides(Method.TextCompletionStreaming))
        {
            return StreamAggregator.ToAsyncEnumerable(TextCompletionStreaming(request), cancellationToken);
        }

        if (Overrides(Method.TextCompletionAsync))
        {
            return FromTextCompletion(TextCompletionAsync(request, cancellationToken), cancellationToken);
        }

        if (Overrides(Method.TextCompletion))
        {
            return FromTextCompletion(Task.Run(() => TextCompletion(request), cancellationToken), cancellationToken);
        }

        return TextThroughChatAsync(request, cancellationToken);
    }

    private static async IAsyncEnumerable<GenericStreamingChunk> FromTextCompletion(Task<TextCompletionResponse> completion, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var response = await completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var chunk in StreamAggregator.ToChunks(TextCompletions.ToModelResponse(response)))
        {
            yield return chunk;
        }
    }

    private IEnumerable<GenericStreamingChunk> TextThroughChat(TextCompletionRequest request)
    {
        var perPrompt = request.N ?? 1;
        Usage? usage = null;
        for (var prompt = 0; prompt < request.Prompt.Count; prompt++)
        {
            foreach (var echo in TextCompletions.Echo(request, prompt))
            {
                yield return echo;
            }

            foreach (var chunk in Streaming(request.ToChatCompletionRequest(prompt)))
            {
                usage = TextCompletions.Add(usage, chunk.Usage);
                yield return chunk with { Index = (prompt * perPrompt) + chunk.Index, Usage = null, ToolUse = null };
            }
        }

        if (usage is not null)
        {
            yield return new GenericStreamingChunk { Usage = usage };
        }
    }

    private async IAsyncEnumerable<GenericStreamingChunk> TextThroughChatAsync(TextCompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var perPrompt = request.N ?? 1;
        Usage? usage = null;
        for (var prompt = 0; prompt < request.Prompt.Count; prompt++)
        {
            foreach (var echo in TextCompletions.Echo(request, prompt))
            {
                yield return echo;
            }

            await foreach (var chunk in StreamingAsync(request.ToChatCompletionRequest(prompt), cancellationToken).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                usage = TextCompletions.Add(usage, chunk.Usage);
                yield return chunk with { Index = (prompt * perPrompt) + chunk.Index, Usage = null, ToolUse = null };
            }
        }

        if (usage is not null)
        {
            yield return new GenericStreamingChunk { Usage = usage };
        }
    }
}

/// <summary>Converts between text completions and the chat records they are served through.</summary>
internal static class TextCompletions
{
    /// <summary>One answer per prompt, merged into one text completion: choices numbered prompt × n + choice, usage summed.</summary>
    public static TextCompletionResponse FromChatAnswers(TextCompletionRequest request, IReadOnlyList<ModelResponse> answers)
    {
        var perPrompt = request.N ?? 1;
        var choices = new List<TextChoice>();
        Usage? usage = null;
        for (var prompt = 0; prompt < answers.Count; prompt++)
        {
            var answer = answers[prompt];
            usage = Add(usage, answer.Usage);
            var prefix = request.Echo ? request.Prompt[prompt] : "";
            for (var position = 0; position < answer.Choices.Count; position++)
            {
                var choice = answer.Choices[position];
                choices.Add(new TextChoice
                {
                    Index = (prompt * perPrompt) + (choice.Index == 0 ? position : choice.Index),
                    Text = prefix + (choice.Message.Content ?? ""),
                    FinishReason = choice.FinishReason,
                });
            }
        }

        var single = answers.Count == 1 ? answers[0] : null;
        return new TextCompletionResponse
        {
            Choices = choices,
            Usage = usage,
            Created = single?.Created,
            SystemFingerprint = single?.SystemFingerprint,
        };
    }

    public static TextCompletionResponse FromModelResponse(ModelResponse response) => new()
    {
        Id = response.Id,
        Created = response.Created,
        Model = response.Model,
        Choices = [.. response.Choices.Select((c, position) => new TextChoice { Index = c.Index == 0 ? position : c.Index, Text = c.Message.Content ?? "", FinishReason = c.FinishReason })],
        Usage = response.Usage,
        SystemFingerprint = response.SystemFingerprint,
        AdditionalProperties = response.AdditionalProperties,
    };

    public static ModelResponse ToModelResponse(TextCompletionResponse response) => new()
    {
        Id = response.Id,
        Created = response.Created,
        Model = response.Model,
        Choices = [.. response.Choices.Select(c => new Choice { Index = c.Index, Message = new ResponseMessage { Content = c.Text }, FinishReason = c.FinishReason })],
        Usage = response.Usage,
        SystemFingerprint = response.SystemFingerprint,
        AdditionalProperties = response.AdditionalProperties,
    };

    /// <summary>With <c>echo</c>, the prompt opens each of its choices.</summary>
    public static IEnumerable<GenericStreamingChunk> Echo(TextCompletionRequest request, int prompt)
    {
        if (!request.Echo)
        {
            yield break;
        }

        var perPrompt = request.N ?? 1;
        for (var choice = 0; choice < perPrompt; choice++)
        {
            yield return new GenericStreamingChunk { Index = (prompt * perPrompt) + choice, Text = request.Prompt[prompt] };
        }
    }

    public static Usage? Add(Usage? total, Usage? more) =>
        more is null ? total
        : total is null ? more
        : new Usage(total.PromptTokens + more.PromptTokens, total.CompletionTokens + more.CompletionTokens) { TotalTokens = total.TotalTokens + more.TotalTokens };
}
