using PluginHost.Sdk.AI;

namespace BridgeHandlers;

/// <summary>A bridge handler over the fake chat client and embedding generator.</summary>
public sealed class FakeBridge() : ChatClientLlm(new FakeChatClient(), new FakeEmbeddingGenerator());

/// <summary>A bridge handler with a chat client only: embeddings are not implemented.</summary>
public sealed class ChatOnlyBridge() : ChatClientLlm(new FakeChatClient());
