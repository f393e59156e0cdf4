using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace PluginHost.Plugins;

/// <summary>
/// The handler types an assembly defines, read from its metadata with <see cref="System.Reflection.Metadata"/>: nothing
/// of it is loaded, so a plugin that is not mapped (or not allowed) can be listed without running any of its code.
/// </summary>
internal static class HandlerMetadata
{
    /// <summary>
    /// The full names of the public, concrete classes in <paramref name="content"/> that derive from
    /// <c>PluginHost.Sdk.CustomLlm</c>, directly or through classes of the same assembly, sorted.
    /// </summary>
    public static IReadOnlyList<string> HandlerTypes(byte[] content)
    {
        using var pe = new PEReader(new MemoryStream(content, writable: false));
        var metadata = pe.GetMetadataReader();
        var found = new List<string>();
        foreach (var handle in metadata.TypeDefinitions)
        {
            var type = metadata.GetTypeDefinition(handle);
            var attributes = type.Attributes;
            if ((attributes & TypeAttributes.VisibilityMask) != TypeAttributes.Public || (attributes & (TypeAttributes.Abstract | TypeAttributes.Interface)) != 0)
            {
                continue;
            }

            if (DerivesFromCustomLlm(metadata, type, depth: 0))
            {
                found.Add(FullName(metadata, type.Namespace, type.Name));
            }
        }

        found.Sort(StringComparer.Ordinal);
        return found;
    }

    private static bool DerivesFromCustomLlm(MetadataReader metadata, TypeDefinition type, int depth)
    {
        var baseType = type.BaseType;
        if (baseType.IsNil || depth > 32)
        {
            return false;
        }

        return baseType.Kind switch
        {
            HandleKind.TypeReference when metadata.GetTypeReference((TypeReferenceHandle)baseType) is var reference =>
                metadata.StringComparer.Equals(reference.Namespace, "PluginHost.Sdk") && metadata.StringComparer.Equals(reference.Name, "CustomLlm"),
            HandleKind.TypeDefinition => DerivesFromCustomLlm(metadata, metadata.GetTypeDefinition((TypeDefinitionHandle)baseType), depth + 1),
            _ => false,
        };
    }

    private static string FullName(MetadataReader metadata, StringHandle ns, StringHandle name) =>
        ns.IsNil || metadata.GetString(ns).Length == 0 ? metadata.GetString(name) : $"{metadata.GetString(ns)}.{metadata.GetString(name)}";
}
