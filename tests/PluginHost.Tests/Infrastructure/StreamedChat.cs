using OpenAI.Chat;

namespace PluginHost.Tests.Infrastructure;

/// <summary>A streamed chat answer as the OpenAI SDK reassembles it: text, tool calls by index, finish reason.</summary>
internal sealed record StreamedChat(string Text, IReadOnlyList<(string? Id, string? Name, string Arguments)> Calls, ChatFinishReason? Finish)
{
    public static async Task<StreamedChat> ReadAsync(IAsyncEnumerable<StreamingChatCompletionUpdate> updates)
    {
        var calls = new SortedDictionary<int, (string? Id, string? Name, string Arguments)>();
        var text = "";
        ChatFinishReason? finish = null;
        await foreach (var update in updates)
        {
            text += string.Concat(update.ContentUpdate.Select(c => c.Text));
            finish ??= update.FinishReason;
            foreach (var piece in update.ToolCallUpdates)
            {
                var call = calls.GetValueOrDefault(piece.Index, (null, null, ""));
                calls[piece.Index] = (call.Id ?? piece.ToolCallId, call.Name ?? piece.FunctionName, call.Arguments + piece.FunctionArgumentsUpdate?.ToString());
            }
        }

        return new StreamedChat(text, [.. calls.Values], finish);
    }
}
