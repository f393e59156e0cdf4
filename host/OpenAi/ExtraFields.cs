using System.Text.Json;

namespace PluginHost.OpenAi;

/// <summary>
/// The fields of a request object the contract does not type, collected as they are read and handed to the
/// handler as <c>AdditionalProperties</c>: nothing the client sends is dropped.
/// </summary>
internal struct ExtraFields
{
    private static readonly IReadOnlyDictionary<string, JsonElement> None = new Dictionary<string, JsonElement>();

    private Dictionary<string, JsonElement>? _fields;

    public void Add(JsonProperty property) => Add(property.Name, property.Value.Clone());

    public void Add(string name, JsonElement value) => (_fields ??= new Dictionary<string, JsonElement>(StringComparer.Ordinal))[name] = value;

    public readonly IReadOnlyDictionary<string, JsonElement> ToReadOnly() => _fields ?? None;
}
