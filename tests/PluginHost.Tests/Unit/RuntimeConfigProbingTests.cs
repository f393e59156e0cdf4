using System.Reflection;
using McMaster.NETCore.Plugins.Loader;
using PluginHost.Plugins;

namespace PluginHost.Tests.Unit;

/// <summary>
/// <see cref="RuntimeConfigProbing"/> reads a plugin's runtime configuration as McMaster's
/// <c>TryAddAdditionalProbingPathFromRuntimeConfig</c> does: each case here runs both on the same files and compares
/// the probing paths they add (McMaster's read from its builder's list).
/// </summary>
public sealed class RuntimeConfigProbingTests
{
    private static readonly string Arch = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();

    private static readonly string StoreRoot = Path.Combine(Path.GetDirectoryName(Environment.ProcessPath)!, "store") + Path.DirectorySeparatorChar;

    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("runtimeconfig-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(null, null, Array.Empty<string>()).SetName("No file adds nothing");
        yield return new TestCaseData(
            """{"runtimeOptions":{"tfm":"net10.0","additionalProbingPaths":["/probe/|arch|/|tfm|","/plain"]}}""", null,
            new[] { $"/probe/{Arch}/net10.0", "/plain" }).SetName("Paths get the architecture and the target framework filled in");
        yield return new TestCaseData(
            """{"runtimeOptions":{"additionalProbingPaths":["/a/|tfm|","/b"]}}""", null,
            new[] { "/b" }).SetName("A path that needs a target framework no file names is skipped");
        yield return new TestCaseData(
            """{"runtimeOptions":{"additionalProbingPaths":["/main"]}}""",
            """{"runtimeOptions":{"tfm":"net9.0","additionalProbingPaths":["/dev/|tfm|"]}}""",
            new[] { "/main", "/dev/net9.0" }).SetName("The dev file adds its paths after the main file's and can name the target framework");
        yield return new TestCaseData(
            "{ not json", """{"runtimeOptions":{"additionalProbingPaths":["/dev"]}}""",
            Array.Empty<string>()).SetName("A main file that is not JSON adds nothing, not even its dev file's paths");
        yield return new TestCaseData(
            """{"runtimeOptions":{"additionalProbingPaths":["/main"]}}""", "[1,2]",
            new[] { "/main" }).SetName("A dev file of the wrong shape adds nothing of its own");
        yield return new TestCaseData(
            """{"runtimeOptions":{"additionalProbingPaths":["/a","relative","/b"]}}""", null,
            new[] { "/a" }).SetName("A relative path ends the list there");
        yield return new TestCaseData(
            """{"runtimeOptions":{"additionalProbingPaths":["/a",null,"/b"]}}""", null,
            new[] { "/a" }).SetName("A null path ends the list there");
        yield return new TestCaseData(
            """{"runtimeOptions":{"tfm":5,"additionalProbingPaths":["/a"]}}""", null,
            Array.Empty<string>()).SetName("A target framework that is not a string makes the file unreadable");
        yield return new TestCaseData(
            """{"RuntimeOptions":{"additionalProbingPaths":["/a"]},"runtimeOptions":{"AdditionalProbingPaths":["/b"]}}""", null,
            Array.Empty<string>()).SetName("Names are case-sensitive");
        yield return new TestCaseData(
            """{"runtimeOptions":{"additionalProbingPaths":["/first"]},"runtimeOptions":{"additionalProbingPaths":["/second"]}}""", null,
            new[] { "/second" }).SetName("The last of a repeated name counts");
        yield return new TestCaseData(
            "{\"runtimeOptions\":{\"additionalProbingPaths\":[\"/a\"]}, // a comment\n}", null,
            Array.Empty<string>()).SetName("Comments and trailing commas make the file unreadable");
        yield return new TestCaseData("null", """{"runtimeOptions":{"additionalProbingPaths":["/dev"]}}""", Array.Empty<string>()).SetName("A main file that is JSON null adds nothing");
        yield return new TestCaseData("""{"runtimeOptions":null}""", """{"runtimeOptions":{"additionalProbingPaths":["/dev"]}}""", new[] { "/dev" }).SetName("A main file without options still reads its dev file");
    }

    [TestCaseSource(nameof(Cases))]
    public void Reads_the_probing_paths_as_McMaster_does(string? main, string? dev, string[] expected)
    {
        var path = Path.Combine(_folder, "Plugin.runtimeconfig.json");
        if (main is not null)
        {
            File.WriteAllText(path, main);
        }

        if (dev is not null)
        {
            File.WriteAllText(Path.Combine(_folder, "Plugin.runtimeconfig.dev.json"), dev);
        }

        var mcMaster = new AssemblyLoadContextBuilder().TryAddAdditionalProbingPathFromRuntimeConfig(path, includeDevConfig: true, out _);
        var mcMasterPaths = (List<string>)typeof(AssemblyLoadContextBuilder).GetField("_additionalProbingPaths", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(mcMaster)!;

        var ours = RuntimeConfigProbing.PathsFrom(path);
        Assert.Multiple(() =>
        {
            Assert.That(ours, Is.EqualTo(mcMasterPaths), "McMaster's reading of the same files");

            // Under `dotnet test` the process is dotnet: a file naming a target framework also adds the runtime's store.
            Assert.That(ours.Where(p => !p.StartsWith(StoreRoot, StringComparison.Ordinal)), Is.EqualTo(expected));
        });
    }
}
