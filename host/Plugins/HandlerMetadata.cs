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
    private const int MaxDepth = 32;

    /// <summary>
    /// The full names of the public, concrete classes in <paramref name="content"/> that derive from
    /// <c>PluginHost.Sdk.CustomLlm</c>, sorted: directly, through classes of the same assembly, or through classes of
    /// assemblies beside it in <paramref name="folder"/> (e.g. <c>PluginHost.Sdk.AI</c>'s <c>ChatClientLlm</c>), whose
    /// metadata is read the same way.
    /// </summary>
    public static IReadOnlyList<string> HandlerTypes(byte[] content, string? folder = null)
    {
        using var readers = new Readers(folder);
        var metadata = readers.Add(new PEReader(new MemoryStream(content, writable: false)));
        var found = new List<string>();
        foreach (var handle in metadata.TypeDefinitions)
        {
            var type = metadata.GetTypeDefinition(handle);
            var attributes = type.Attributes;
            if ((attributes & TypeAttributes.VisibilityMask) != TypeAttributes.Public || (attributes & (TypeAttributes.Abstract | TypeAttributes.Interface)) != 0)
            {
                continue;
            }

            if (DerivesFromCustomLlm(readers, metadata, type, depth: 0))
            {
                found.Add(FullName(metadata, type.Namespace, type.Name));
            }
        }

        found.Sort(StringComparer.Ordinal);
        return found;
    }

    private static bool DerivesFromCustomLlm(Readers readers, MetadataReader metadata, TypeDefinition type, int depth)
    {
        var baseType = type.BaseType;
        if (baseType.IsNil || depth > MaxDepth)
        {
            return false;
        }

        switch (baseType.Kind)
        {
            case HandleKind.TypeDefinition:
                return DerivesFromCustomLlm(readers, metadata, metadata.GetTypeDefinition((TypeDefinitionHandle)baseType), depth + 1);
            case HandleKind.TypeReference:
                var reference = metadata.GetTypeReference((TypeReferenceHandle)baseType);
                var ns = metadata.GetString(reference.Namespace);
                var name = metadata.GetString(reference.Name);
                if (ns == "PluginHost.Sdk" && name == "CustomLlm")
                {
                    return true;
                }

                // A base class in another assembly of the plugin's folder: follow it there, still from metadata only.
                if (reference.ResolutionScope.Kind == HandleKind.AssemblyReference
                    && readers.Open(metadata.GetString(metadata.GetAssemblyReference((AssemblyReferenceHandle)reference.ResolutionScope).Name)) is { } other
                    && Find(other, ns, name) is { } definition)
                {
                    return DerivesFromCustomLlm(readers, other, definition, depth + 1);
                }

                return false;
            default:
                return false;
        }
    }

    private static TypeDefinition? Find(MetadataReader metadata, string ns, string name)
    {
        foreach (var handle in metadata.TypeDefinitions)
        {
            var type = metadata.GetTypeDefinition(handle);
            if (type.GetDeclaringType().IsNil && metadata.StringComparer.Equals(type.Namespace, ns) && metadata.StringComparer.Equals(type.Name, name))
            {
                return type;
            }
        }

        return null;
    }

    private static string FullName(MetadataReader metadata, StringHandle ns, StringHandle name) =>
        ns.IsNil || metadata.GetString(ns).Length == 0 ? metadata.GetString(name) : $"{metadata.GetString(ns)}.{metadata.GetString(name)}";

    /// <summary>The metadata readers opened for one listing, by assembly name; disposed with it.</summary>
    private sealed class Readers(string? folder) : IDisposable
    {
        private readonly List<PEReader> _open = [];
        private readonly Dictionary<string, MetadataReader?> _byName = new(StringComparer.OrdinalIgnoreCase);

        public MetadataReader Add(PEReader reader)
        {
            _open.Add(reader);
            return reader.GetMetadataReader();
        }

        /// <summary>The metadata of <c>folder/<paramref name="assembly"/>.dll</c>, or null when there is none (or it is unreadable).</summary>
        public MetadataReader? Open(string assembly)
        {
            if (folder is null)
            {
                return null;
            }

            if (!_byName.TryGetValue(assembly, out var metadata))
            {
                var path = Path.Combine(folder, assembly + ".dll");
                try
                {
                    metadata = File.Exists(path) ? Add(new PEReader(new MemoryStream(File.ReadAllBytes(path), writable: false))) : null;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or BadImageFormatException or InvalidOperationException)
                {
                    metadata = null;
                }

                _byName[assembly] = metadata;
            }

            return metadata;
        }

        public void Dispose()
        {
            foreach (var reader in _open)
            {
                reader.Dispose();
            }
        }
    }
}
