using Microsoft.Extensions.AI;

namespace ElizaHandler;

/// <summary>
/// A local embedding model in forty lines: the feature-hashing trick. Each lower-cased word adds 1 to one
/// of <c>dimensions</c> buckets (chosen by a hash of the word), and the vector is normalised to length 1, so
/// texts sharing words have a high cosine similarity. Deterministic, fast, and needs no network.
/// </summary>
public sealed class HashingEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>The dimensions when the request does not say.</summary>
    public const int DefaultDimensions = 256;

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var dimensions = options?.Dimensions ?? DefaultDimensions;
        var embeddings = new GeneratedEmbeddings<Embedding<float>>();
        long tokens = 0;
        foreach (var text in values)
        {
            // A large request is many vectors: stop between them when the client has gone away.
            cancellationToken.ThrowIfCancellationRequested();
            var vector = new float[dimensions];
            foreach (var word in text.ToLowerInvariant().Split((char[])[' ', '\t', '\n', '.', ',', '!', '?', ';', ':'], StringSplitOptions.RemoveEmptyEntries))
            {
                vector[Fnv1a(word) % (uint)dimensions] += 1;
                tokens++;
            }

            var length = MathF.Sqrt(vector.Sum(x => x * x));
            for (var i = 0; length > 0 && i < vector.Length; i++)
            {
                vector[i] /= length;
            }

            embeddings.Add(new Embedding<float>(vector) { ModelId = options?.ModelId });
        }

        embeddings.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
        return Task.FromResult(embeddings);
    }

    /// <summary>32-bit FNV-1a: a stable hash (string.GetHashCode changes from process to process).</summary>
    private static uint Fnv1a(string word)
    {
        var hash = 2166136261u;
        foreach (var c in word)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
