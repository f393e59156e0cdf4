using PluginHost.Anthropic;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary>How the Responses and Messages readers turn their items and blocks into chat messages, without a host.</summary>
public sealed class ResponsesAndMessagesReaderTests
{
    private static string Describe(IEnumerable<ChatMessage> messages) => string.Join(" | ", messages.Select(m =>
        $"{m.Role}:{m.Content}:{m.ReasoningContent}:{string.Join(",", (m.ToolCalls ?? []).Select(c => $"{c.Id}/{c.Function.Name}/{c.Function.Arguments}"))}:{m.ToolCallId}"));

    [Test]
    public void Responses_items_become_chat_messages_with_calls_joined_to_the_assistant_turn_and_reasoning_on_it()
    {
        var request = ResponsesRequestReader.Read(Parse("""
            {"model":"m","instructions":"sys","input":[
              {"role":"user","content":"q"},
              {"type":"reasoning","summary":[{"type":"summary_text","text":"think"}]},
              {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
              {"type":"function_call","call_id":"c2","name":"g","arguments":"[1]"},
              {"type":"function_call_output","call_id":"c1","output":"r1"},
              {"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"r2"}]}]}
            """), Target);

        Assert.Multiple(() =>
        {
            Assert.That(Describe(request.Chat.Messages), Is.EqualTo("system:sys::: | user:q::: | assistant::think:c1/f/{},c2/g/[1]: | tool:r1:::c1 | tool:r2:::c2"));
            Assert.That(Describe(request.Conversation), Does.Not.Contain("sys"), "instructions do not carry over to a follow-up");
            Assert.That(request.Store, Is.Null, "no services: nothing to keep in");
            Assert.That(request.Identity.Id, Does.StartWith("resp_"));
        });
    }

    [Test]
    public void Messages_tool_results_come_before_the_rest_of_the_user_turn_and_tool_use_becomes_tool_calls()
    {
        var request = MessagesRequestReader.Read(Parse("""
            {"model":"m","max_tokens":9,"system":"sys","messages":[
              {"role":"user","content":"q"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"ok"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},
              {"role":"user","content":[{"type":"text","text":"and"},{"type":"tool_result","tool_use_id":"t1","content":"r","is_error":true}]}]}
            """), Target);

        Assert.Multiple(() =>
        {
            Assert.That(Describe(request.Messages), Is.EqualTo("system:sys::: | user:q::: | assistant:ok:hmm:t1/f/{\"a\":1}: | tool:r:::t1 | user:and:::"));
            Assert.That(request.Messages[3].AdditionalProperties.ContainsKey("is_error"), Is.True);
            Assert.That(request.MaxTokens, Is.EqualTo(9));
        });
    }

    [Test]
    public void Messages_stop_reason_follows_the_finish_reason()
    {
        Assert.Multiple(() =>
        {
            Assert.That(MessagesEndpoint.StopReason(FinishReason.Stop, calledTools: false), Is.EqualTo("end_turn"));
            Assert.That(MessagesEndpoint.StopReason(FinishReason.Length, calledTools: false), Is.EqualTo("max_tokens"));
            Assert.That(MessagesEndpoint.StopReason(FinishReason.ToolCalls, calledTools: true), Is.EqualTo("tool_use"));
            Assert.That(MessagesEndpoint.StopReason(null, calledTools: true), Is.EqualTo("tool_use"));
            Assert.That(MessagesEndpoint.StopReason(FinishReason.ContentFilter, calledTools: false), Is.EqualTo("refusal"));
        });
    }

    [Test]
    public void A_tool_use_answer_whose_arguments_are_not_a_JSON_object_is_an_invalid_answer()
    {
        var response = new ModelResponse
        {
            Choices = [new Choice { Message = new ResponseMessage { ToolCalls = [new ToolCall { Id = "t", Function = new FunctionCall("f", "not json") }] } }],
        };

        var request = MessagesRequestReader.Read(Parse("""{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"q"}]}"""), Target);

        Assert.Throws<InvalidAnswerException>(() => Write(w => MessagesEndpoint.Write(w, request, response)));
    }
}
