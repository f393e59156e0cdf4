using System.Globalization;

namespace PluginHost.Bench;

/// <summary><c>--name value</c> pairs; every subcommand reads what it needs and fails loudly on what is missing.</summary>
internal sealed class BenchArgs
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static BenchArgs Parse(string[] args)
    {
        var parsed = new BenchArgs();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"expected '--name value', got '{args[i]}'");
            }

            parsed._values[args[i][2..]] = args[++i];
        }

        return parsed;
    }

    public string String(string name) =>
        _values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"missing --{name}");

    public string? Optional(string name) => _values.GetValueOrDefault(name);

    public int Int(string name, int fallback) =>
        _values.TryGetValue(name, out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) =>
        _values.TryGetValue(name, out var value) ? double.Parse(value, CultureInfo.InvariantCulture) : fallback;

    /// <summary>The two sides of a comparison: <c>--a-label --a-url --a-model</c> and the same with <c>b</c>.</summary>
    public (Target A, Target B) Pair() => (Target('a'), Target('b'));

    public Target Target(char side) => new(
        String($"{side}-label"),
        String($"{side}-url"),
        String($"{side}-model"),
        Optional($"{side}-key") ?? Optional("key"),
        Optional($"{side}-api") ?? "chat");

    public Report Report() => new(String("out"));
}

/// <summary>An endpoint to load: its URL, the model to ask for, the bearer key, and the API shape of its requests (<c>chat</c>, <c>responses</c>, <c>messages</c>).</summary>
internal sealed record Target(string Label, string Url, string Model, string? Key, string Api = "chat");
