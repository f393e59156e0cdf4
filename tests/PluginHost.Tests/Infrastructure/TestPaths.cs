namespace PluginHost.Tests.Infrastructure;

/// <summary>Where the repository and the built test plugins are.</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The output folder of a test plugin project (tests/TestPlugins/<paramref name="project"/>).</summary>
    public static string TestPlugin(string project) => Path.Combine(RepoRoot, "artifacts", "testplugins", project);

    /// <summary>The output folder of a sample plugin (plugins/<paramref name="name"/>).</summary>
    public static string SamplePlugin(string name) => Path.Combine(RepoRoot, "plugins", name);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PluginHost.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find the repository root (PluginHost.sln) above " + AppContext.BaseDirectory);
    }
}
