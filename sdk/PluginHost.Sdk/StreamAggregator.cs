using System.Runtime.CompilerServices;
using System.Text;

namespace PluginHost.Sdk;

/// <summary>Turns streams into whole responses and back, for handlers that implement only one side.</summary>
internal static class StreamAggregator
{
    public static ModelResponse Aggregate(IEnumerable<GenericStreamingChunk> chunks, CancellationToken cancellationToken = default)
    {
        var builder = new Builder();
        foreach (var chunk in chunks)
        {
            cancellationToken.ThrowIfCancellationRequested();
            builder.Add(chunk);
        }

        return builder.Build();
    }

    public static async Task<ModelResponse> AggregateAsync(IAsyncEnumerable<GenericStreamingChunk> chunks, CancellationToken cancellationToken)
    {
        var builder = new Builder();
        await foreach (var chunk in chunks.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            builder.Add(chunk);
        }

        return builder.Build();
    }

    /// <summary>A whole response as a stream: per choice, one chunk with its text, one per tool call, and the finish.</summary>
    public static IEnumerable<GenericStreamingChunk> ToChunks(ModelResponse response)
    {
        if (response is null)
        {
            throw new InvalidOperationException("The handler's completion returned null instead of a ModelResponse.");
        }

        var usage = response.Usage;
        for (var position = 0; position < response.Choices.Count; position++)
        {
            var choice = response.Choices[position];
            var index = choice.Index == 0 ? position : choice.Index;
            var message = choice.Message;
            var last = position == response.Choices.Count - 1;
            var finish = choice.FinishReason ?? (message.ToolCalls is { Count: > 0 } ? FinishReason.ToolCalls : FinishReason.Stop);
            var toolCalls = message.ToolCalls ?? [];
            var hasToolCalls = toolCalls.Count > 0;

            yield return new GenericStreamingChunk
            {
                Index = index,
                Text = message.Content ?? "",
                ReasoningContent = message.ReasoningContent,
                ProviderSpecificFields = message.ProviderSpecificFields,
                IsFinished = !hasToolCalls,
                FinishReason = hasToolCalls ? null : finish,
                Usage = !hasToolCalls && last ? usage : null,
            };

            for (var i = 0; i < toolCalls.Count; i++)
            {
                var call = toolCalls[i];
                var final = i == toolCalls.Count - 1;
                yield return new GenericStreamingChunk
                {
                    Index = index,
                    ToolUse = new ToolUse { Id = call.Id, Type = call.Type, Index = i, Function = new ToolUseFunction(call.Function.Name, call.Function.Arguments) },
                    IsFinished = final,
                    FinishReason = final ? finish : null,
                    Usage = final && last ? usage : null,
                };
            }
        }
    }

    public static IEnumerable<GenericStreamingChunk> ToEnumerable(IAsyncEnumerable<GenericStreamingChunk> chunks)
    {
        var enumerator = chunks.GetAsyncEnumerator();
        try
        {
            while (enumerator.MoveNextAsync().AsTask().GetAwaiter().GetResult())
            {
                yield return enumerator.Current;
            }
        }
        finally
        {
            enumerator.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    public static async IAsyncEnumerable<GenericStreamingChunk> ToAsyncEnumerable(IEnumerable<GenericStreamingChunk> chunks, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // A synchronous generator may block between items; run each step off the caller's thread.
        using var enumerator = chunks.GetEnumerator();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var hasNext = await Task.Run(enumerator.MoveNext, cancellationToken).ConfigureAwait(false);
            if (!hasNext)
            {
                yield break;
            }

            yield return enumerator.Current;
        }
    }

    /// <summary>Accumulates chunks per choice: text, reasoning, tool calls by index, finish reason and usage.</summary>
    private sealed class Builder
    {
        private readonly SortedDictionary<int, ChoiceState> _choices = [];
        private Usage? _usage;

        public void Add(GenericStreamingChunk chunk)
        {
            if (chunk.Usage is not null)
            {
                _usage = chunk.Usage;
            }

            if (!_choices.TryGetValue(chunk.Index, out var state))
            {
                state = new ChoiceState();
                _choices.Add(chunk.Index, state);
            }

            state.Text.Append(chunk.Text);
            if (chunk.ReasoningContent is not null)
            {
                (state.Reasoning ??= new StringBuilder()).Append(chunk.ReasoningContent);
            }

            if (chunk.ProviderSpecificFields is not null)
            {
                state.ProviderSpecificFields = chunk.ProviderSpecificFields;
            }

            if (chunk.ToolUse is { } use)
            {
                if (!state.ToolCalls.TryGetValue(use.Index, out var call))
                {
                    call = new ToolCallState();
                    state.ToolCalls.Add(use.Index, call);
                }

                call.Id ??= use.Id;
                call.Type = use.Type;
                call.Name ??= use.Function.Name;
                call.Arguments.Append(use.Function.Arguments);
            }

            if (chunk.IsFinished || chunk.FinishReason is not null)
            {
                state.FinishReason = chunk.FinishReason ?? state.FinishReason;
            }
        }

        public ModelResponse Build()
        {
            if (_choices.Count == 0)
            {
                _choices.Add(0, new ChoiceState());
            }

            var choices = new List<Choice>(_choices.Count);
            foreach (var (index, state) in _choices)
            {
                List<ToolCall>? toolCalls = null;
                foreach (var (_, call) in state.ToolCalls)
                {
                    (toolCalls ??= []).Add(new ToolCall
                    {
                        Id = call.Id ?? $"call_{Guid.NewGuid():N}",
                        Type = call.Type,
                        Function = new FunctionCall(call.Name ?? "", call.Arguments.ToString()),
                    });
                }

                var text = state.Text.ToString();
                choices.Add(new Choice
                {
                    Index = index,
                    FinishReason = state.FinishReason ?? (toolCalls is null ? FinishReason.Stop : FinishReason.ToolCalls),
                    Message = new ResponseMessage
                    {
                        Content = text.Length == 0 && toolCalls is not null ? null : text,
                        ToolCalls = toolCalls,
                        ReasoningContent = state.Reasoning?.ToString(),
                        ProviderSpecificFields = state.ProviderSpecificFields,
                    },
                });
            }

            return new ModelResponse { Choices = choices, Usage = _usage };
        }

        private sealed class ChoiceState
        {
            public StringBuilder Text { get; } = new();
            public StringBuilder? Reasoning { get; set; }
            public SortedDictionary<int, ToolCallState> ToolCalls { get; } = [];
            public FinishReason? FinishReason { get; set; }
            public IReadOnlyDictionary<string, System.Text.Json.JsonElement>? ProviderSpecificFields { get; set; }
        }

        private sealed class ToolCallState
        {
            public string? Id { get; set; }
            public string Type { get; set; } = "function";
            public string? Name { get; set; }
            public StringBuilder Arguments { get; } = new();
        }
    }
}
