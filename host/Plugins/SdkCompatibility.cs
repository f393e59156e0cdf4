using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using PluginHost.Sdk;

namespace PluginHost.Plugins;

/// <summary>
/// Whether a plugin can run on this host's SDK, read from the plugin's metadata before anything of it is loaded: the
/// version of <c>PluginHost.Sdk</c> it was compiled against and, when that is newer than the host's, every SDK type
/// and member it uses. So a plugin that needs what the host lacks is refused at load with a message saying what,
/// instead of failing with a <see cref="MissingMethodException"/> on some request later.
/// </summary>
/// <remarks>
/// The rules (semantic versioning of the SDK's assembly version):
/// <list type="bullet">
/// <item>Another major version is refused: a major version is where the SDK may break its contract (either way).</item>
/// <item>The same or an older minor version loads: the SDK only adds within a major version.</item>
/// <item>A newer minor (or patch) version loads when every SDK type it references exists here and every SDK member it
/// references (methods, constructors, property accessors, fields) exists with the same name, generic arity and
/// parameter types; otherwise it is refused, naming the first few missing. A member a plugin only overrides (a new
/// virtual method the host does not know) is not referenced and is never called here, so it does not refuse it.</item>
/// </list>
/// </remarks>
internal static class SdkCompatibility
{
    private const string SdkName = "PluginHost.Sdk";

    /// <summary>The SDK this host runs.</summary>
    public static Assembly HostSdk { get; } = typeof(CustomLlm).Assembly;

    /// <summary>
    /// Null when the plugin in <paramref name="metadata"/> can run on <paramref name="hostSdk"/>; otherwise why not,
    /// as a sentence for /plugins, readiness and the log.
    /// </summary>
    public static string? Check(MetadataReader metadata, Assembly hostSdk)
    {
        var host = hostSdk.GetName().Version ?? new Version(0, 0);
        foreach (var handle in metadata.AssemblyReferences)
        {
            var reference = metadata.GetAssemblyReference(handle);
            if (!metadata.StringComparer.Equals(reference.Name, SdkName))
            {
                continue;
            }

            var built = reference.Version;
            if (built.Major != host.Major)
            {
                return $"it was built against {SdkName} {Show(built)}, and this host runs {SdkName} {Show(host)}: a different major version. Rebuild it against {SdkName} {host.Major}.x, or run it on a host with {SdkName} {built.Major}.x.";
            }

            if (built <= host)
            {
                return null;
            }

            var missing = Missing(metadata, handle, hostSdk);
            return missing.Count == 0
                ? null
                : $"it was built against {SdkName} {Show(built)} and uses what this host's {SdkName} {Show(host)} lacks: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? $" and {missing.Count - 5} more" : "")}. Rebuild it against {SdkName} {Show(host)}, or update the host.";
        }

        return null;
    }

    /// <inheritdoc cref="Check(MetadataReader, Assembly)"/>
    public static string? Check(byte[] content, Assembly hostSdk)
    {
        using var pe = new System.Reflection.PortableExecutable.PEReader(new MemoryStream(content, writable: false));
        return Check(pe.GetMetadataReader(), hostSdk);
    }

    private static string Show(Version version) => version.Revision > 0 ? version.ToString() : version.ToString(3);

    /// <summary>The SDK types and members the plugin references that <paramref name="hostSdk"/> does not have.</summary>
    private static List<string> Missing(MetadataReader metadata, AssemblyReferenceHandle sdk, Assembly hostSdk)
    {
        var missing = new List<string>();
        var types = new Dictionary<TypeReferenceHandle, Type?>();
        foreach (var handle in metadata.TypeReferences)
        {
            if (SdkTypeName(metadata, handle, sdk) is { } name)
            {
                var type = hostSdk.GetType(name, throwOnError: false);
                types[handle] = type;
                if (type is null)
                {
                    missing.Add($"type {name.Replace('+', '.')}");
                }
            }
        }

        var provider = new SignatureNames();
        foreach (var handle in metadata.MemberReferences)
        {
            var member = metadata.GetMemberReference(handle);
            if (member.Parent.Kind != HandleKind.TypeReference || !types.TryGetValue((TypeReferenceHandle)member.Parent, out var type) || type is null)
            {
                // Not the SDK's, a member of a generic instantiation (not checked), or a type already reported.
                continue;
            }

            var name = metadata.GetString(member.Name);
            var owner = type.FullName!.Replace('+', '.');
            if (member.GetKind() == MemberReferenceKind.Field)
            {
                if (type.GetField(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static) is null)
                {
                    missing.Add($"field {owner}.{name}");
                }

                continue;
            }

            var signature = member.DecodeMethodSignature(provider, genericContext: null);
            if (!HasMethod(type, name, signature))
            {
                missing.Add($"{owner}.{name}({string.Join(", ", signature.ParameterTypes)})");
            }
        }

        return missing;
    }

    private static bool HasMethod(Type type, string name, MethodSignature<string> signature)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        IEnumerable<MethodBase> candidates = name is ".ctor" or ".cctor"
            ? type.GetConstructors(all)
            : type.GetMethods(all).Where(m => m.Name == name);
        return candidates.Any(m =>
            (m.IsGenericMethodDefinition ? m.GetGenericArguments().Length : 0) == signature.GenericParameterCount &&
            m.GetParameters().Select(p => ReflectionName(p.ParameterType)).SequenceEqual(signature.ParameterTypes, StringComparer.Ordinal));
    }

    /// <summary>The reflection name (<c>Namespace.Outer+Inner</c>) of a type reference into the SDK, or null for another assembly's.</summary>
    private static string? SdkTypeName(MetadataReader metadata, TypeReferenceHandle handle, AssemblyReferenceHandle sdk)
    {
        var reference = metadata.GetTypeReference(handle);
        var scope = reference.ResolutionScope;
        var name = metadata.GetString(reference.Name);
        if (scope.Kind == HandleKind.TypeReference)
        {
            return SdkTypeName(metadata, (TypeReferenceHandle)scope, sdk) is { } outer ? outer + "+" + name : null;
        }

        if (scope.Kind != HandleKind.AssemblyReference || (AssemblyReferenceHandle)scope != sdk)
        {
            return null;
        }

        var ns = metadata.GetString(reference.Namespace);
        return ns.Length == 0 ? name : ns + "." + name;
    }

    /// <summary>A parameter type as <see cref="SignatureNames"/> writes it, from reflection.</summary>
    private static string ReflectionName(Type type)
    {
        if (type.IsGenericParameter)
        {
            return (type.DeclaringMethod is null ? "!" : "!!") + type.GenericParameterPosition;
        }

        if (type.IsByRef)
        {
            return ReflectionName(type.GetElementType()!) + "&";
        }

        if (type.IsPointer)
        {
            return ReflectionName(type.GetElementType()!) + "*";
        }

        if (type.IsArray)
        {
            return ReflectionName(type.GetElementType()!) + (type.IsSZArray ? "[]" : $"[{new string(',', type.GetArrayRank() - 1)}]");
        }

        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            return ReflectionName(type.GetGenericTypeDefinition()) + "<" + string.Join(",", type.GetGenericArguments().Select(ReflectionName)) + ">";
        }

        return type.FullName ?? type.Name;
    }

    /// <summary>Writes signature types as names comparable across assemblies (custom modifiers dropped, as reflection does).</summary>
    private sealed class SignatureNames : ISignatureTypeProvider<string, object?>
    {
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode switch
        {
            PrimitiveTypeCode.Void => "System.Void",
            PrimitiveTypeCode.Boolean => "System.Boolean",
            PrimitiveTypeCode.Char => "System.Char",
            PrimitiveTypeCode.SByte => "System.SByte",
            PrimitiveTypeCode.Byte => "System.Byte",
            PrimitiveTypeCode.Int16 => "System.Int16",
            PrimitiveTypeCode.UInt16 => "System.UInt16",
            PrimitiveTypeCode.Int32 => "System.Int32",
            PrimitiveTypeCode.UInt32 => "System.UInt32",
            PrimitiveTypeCode.Int64 => "System.Int64",
            PrimitiveTypeCode.UInt64 => "System.UInt64",
            PrimitiveTypeCode.Single => "System.Single",
            PrimitiveTypeCode.Double => "System.Double",
            PrimitiveTypeCode.String => "System.String",
            PrimitiveTypeCode.TypedReference => "System.TypedReference",
            PrimitiveTypeCode.IntPtr => "System.IntPtr",
            PrimitiveTypeCode.UIntPtr => "System.UIntPtr",
            PrimitiveTypeCode.Object => "System.Object",
            _ => typeCode.ToString(),
        };

        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            var definition = reader.GetTypeDefinition(handle);
            var name = reader.GetString(definition.Name);
            if (definition.GetDeclaringType() is { IsNil: false } outer)
            {
                return GetTypeFromDefinition(reader, outer, rawTypeKind) + "+" + name;
            }

            var ns = reader.GetString(definition.Namespace);
            return ns.Length == 0 ? name : ns + "." + name;
        }

        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind)
        {
            var reference = reader.GetTypeReference(handle);
            var name = reader.GetString(reference.Name);
            if (reference.ResolutionScope.Kind == HandleKind.TypeReference)
            {
                return GetTypeFromReference(reader, (TypeReferenceHandle)reference.ResolutionScope, rawTypeKind) + "+" + name;
            }

            var ns = reader.GetString(reference.Namespace);
            return ns.Length == 0 ? name : ns + "." + name;
        }

        public string GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

        public string GetSZArrayType(string elementType) => elementType + "[]";

        public string GetArrayType(string elementType, ArrayShape shape) => elementType + "[" + new string(',', shape.Rank - 1) + "]";

        public string GetByReferenceType(string elementType) => elementType + "&";

        public string GetPointerType(string elementType) => elementType + "*";

        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments) => genericType + "<" + string.Join(",", typeArguments) + ">";

        public string GetGenericTypeParameter(object? genericContext, int index) => "!" + index;

        public string GetGenericMethodParameter(object? genericContext, int index) => "!!" + index;

        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;

        public string GetPinnedType(string elementType) => elementType;

        public string GetFunctionPointerType(MethodSignature<string> signature) => "method*";
    }
}
