using System.Runtime.Loader;
using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Routing;
using PluginHost.Sdk;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// Building a snapshot from a configuration and loaded plugins, without a host: plugins here are handler types of this
/// assembly in an empty load context, their handlers created as the plugin loader would.
/// </summary>
public sealed class SnapshotBuilderTests
{
    private static readonly ReloadStatus Reloaded = new(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), null);

    [Test]
    public void Every_deployment_is_bound_to_the_handler_instance_created_for_it()
    {
        var fakes = Created(Plugin("Fakes", typeof(FirstHandler), typeof(SecondHandler)));

        var snapshot = Build(Config(new Model("chat", "Fakes:FirstHandler"), new Model("other", "Fakes:SecondHandler")), Set(fakes), strict: true);

        var route = snapshot.ModelsByName["chat"].Routes.Single();
        Assert.Multiple(() =>
        {
            Assert.That(route.Unavailable, Is.Null);
            Assert.That(route.Deployment.ProviderModel, Is.EqualTo("chat-upstream"));
            Assert.That(route.Binding!.Plugin, Is.SameAs(fakes));
            Assert.That(route.Binding.Handler, Is.SameAs(fakes.GetHandler(typeof(FirstHandler))));
            Assert.That(route.Binding.HandlerName, Is.EqualTo("Fakes:FirstHandler"));
            Assert.That(snapshot.ModelsByName["other"].Routes.Single().Binding!.Handler, Is.InstanceOf<SecondHandler>());
        });
    }

    [Test]
    public void Models_keep_the_configuration_order_and_a_name_gathers_its_deployments_in_order()
    {
        var fakes = Created(Plugin("Fakes", typeof(FirstHandler), typeof(SecondHandler)));

        var snapshot = Build(
            Config(new Model("b", "Fakes:FirstHandler"), new Model("a", "Fakes:SecondHandler"), new Model("b", "Fakes:SecondHandler")),
            Set(fakes),
            strict: true);

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Models.Select(m => m.Name), Is.EqualTo(new[] { "b", "a" }));
            Assert.That(snapshot.Models[0].Routes.Select(r => r.Deployment.Provider), Is.EqualTo(new[] { "p0", "p2" }));
            Assert.That(snapshot.Models[0].Routes.Select(r => r.Binding!.Handler.GetType()), Is.EqualTo(new[] { typeof(FirstHandler), typeof(SecondHandler) }));
            Assert.That(snapshot.ModelsByName["b"], Is.SameAs(snapshot.Models[0]));
        });
    }

    [Test]
    public void A_provider_missing_from_the_provider_map_is_a_configuration_error_when_strict()
    {
        var error = Assert.Throws<ConfigException>(() => Build(ConfigWithUnmappedProvider(), Set(Created(Plugin("Fakes", typeof(FirstHandler)))), strict: true));

        Assert.That(error.Message, Does.Contain("provider 'nowhere' of model 'lost'").And.Contain("(mapped: p0, p1)"));
    }

    [Test]
    public void A_provider_missing_from_the_provider_map_makes_only_its_model_unavailable_when_lenient()
    {
        var snapshot = Build(ConfigWithUnmappedProvider(), Set(Created(Plugin("Fakes", typeof(FirstHandler)))), strict: false);

        Assert.That(snapshot.ModelsByName["lost"].Routes.Single().Unavailable, Does.Contain("provider 'nowhere' of model 'lost'"));
        Assert.That(snapshot.ModelsByName["chat"].Routes.Single().Binding, Is.Not.Null);
    }

    [Test]
    public void A_handler_missing_from_the_plugins_folder_is_a_configuration_error_when_strict_listing_what_is_available()
    {
        var error = Assert.Throws<ConfigException>(() => Build(Config(new Model("chat", "Missing")), Set(Created(Plugin("Fakes", typeof(FirstHandler)))), strict: true));

        Assert.That(error.Message, Does.Contain("custom_handler 'Missing' is not in /plugins").And.Contain($"available: Fakes:{typeof(FirstHandler).FullName}"));
    }

    [Test]
    public void A_handler_missing_from_the_plugins_folder_makes_its_model_unavailable_when_lenient()
    {
        var snapshot = Build(Config(new Model("chat", "Missing")), Set(), strict: false);

        Assert.That(snapshot.ModelsByName["chat"].Routes.Single().Unavailable, Is.EqualTo("handler 'Missing' is not loaded: no Missing.dll in the plugins folder"));
    }

    [Test]
    public void A_plugin_that_failed_to_load_makes_its_models_unavailable_with_its_error_even_when_strict()
    {
        var failure = new PluginFailure("Broken", "/plugins/Broken/Broken.dll", "not a loadable .NET assembly: bad IL", Reloaded.At);

        var snapshot = Build(Config(new Model("chat", "Broken")), Set([], [failure]), strict: true);

        Assert.That(snapshot.ModelsByName["chat"].Routes.Single().Unavailable, Is.EqualTo("handler 'Broken' failed to load: not a loadable .NET assembly: bad IL"));
        Assert.That(snapshot.Failures, Is.EqualTo(new[] { failure }));
    }

    [Test]
    public void A_type_the_plugin_does_not_define_is_a_configuration_error_when_strict()
    {
        var error = Assert.Throws<ConfigException>(() => Build(Config(new Model("chat", "Fakes:Nope")), Set(Created(Plugin("Fakes", typeof(FirstHandler)))), strict: true));

        Assert.That(error.Message, Does.Contain("custom_handler 'Fakes:Nope': Fakes has no handler type 'Nope'"));
    }

    [Test]
    public void A_type_the_plugin_does_not_define_makes_its_model_unavailable_when_lenient()
    {
        var snapshot = Build(Config(new Model("chat", "Fakes:Nope")), Set(Created(Plugin("Fakes", typeof(FirstHandler)))), strict: false);

        Assert.That(snapshot.ModelsByName["chat"].Routes.Single().Unavailable, Does.StartWith("handler 'Fakes:Nope' is not available: Fakes has no handler type 'Nope'"));
    }

    [Test]
    public void An_assembly_named_alone_that_has_several_handlers_is_a_configuration_error_when_strict_listing_them()
    {
        var error = Assert.Throws<ConfigException>(() => Build(Config(new Model("chat", "Fakes")), Set(Created(Plugin("Fakes", typeof(FirstHandler), typeof(SecondHandler)))), strict: true));

        Assert.That(error.Message, Does.Contain("several handlers").And.Contain(typeof(FirstHandler).FullName).And.Contain(typeof(SecondHandler).FullName));
    }

    [Test]
    public void A_kept_old_version_lacking_a_type_is_not_a_configuration_error_and_still_serves_the_rest()
    {
        // The new file of Fakes failed; the version that keeps serving predates the type the configuration names.
        var old = Created(Plugin("Fakes", typeof(FirstHandler)));
        var failure = new PluginFailure("Fakes", old.File.Path, "cannot read a complete assembly yet", Reloaded.At);

        var snapshot = Build(Config(new Model("new", "Fakes:SecondHandler"), new Model("chat", "Fakes:FirstHandler")), Set([old], [failure], kept: "Fakes"), strict: true);

        Assert.That(snapshot.ModelsByName["new"].Routes.Single().Unavailable, Does.StartWith("handler 'Fakes:SecondHandler' is not available"));
        Assert.That(snapshot.ModelsByName["chat"].Routes.Single().Binding!.Plugin, Is.SameAs(old));
        Assert.That(snapshot.Plugins, Is.EqualTo(new[] { old }));
    }

    [Test]
    public void Building_runs_no_plugin_code_a_handler_not_created_with_its_plugin_is_unavailable()
    {
        var counting = Plugin("Counting", typeof(CountingHandler));

        var snapshot = Build(Config(new Model("chat", "Counting")), Set(counting), strict: true);

        Assert.That(CountingHandler.Constructed, Is.Zero);
        Assert.That(snapshot.ModelsByName["chat"].Routes.Single().Unavailable, Does.Contain("cannot be created"));
    }

    [Test]
    public void A_handler_whose_constructor_throws_makes_only_its_models_unavailable_with_the_constructors_message()
    {
        var config = Config(new Model("chat", "Fakes:FirstHandler"), new Model("broken", "Fakes:ThrowingHandler"));
        var plugins = PluginFolder.CreateHandlers(Set(Plugin("Fakes", typeof(FirstHandler), typeof(ThrowingHandler))), config);

        var snapshot = Build(config, plugins, strict: true);

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.ModelsByName["broken"].Routes.Single().Unavailable, Does.StartWith("handler 'Fakes:ThrowingHandler' cannot be created: ").And.Contain("no API key"));
            Assert.That(snapshot.Failures.Select(f => (f.Name, f.Error)), Is.EqualTo(new[] { ("Fakes", snapshot.ModelsByName["broken"].Routes.Single().Unavailable) }));
            Assert.That(snapshot.ModelsByName["chat"].Routes.Single().Binding!.Handler, Is.InstanceOf<FirstHandler>());
        });
    }

    [Test]
    public void The_snapshot_carries_its_generation_reload_status_failures_and_plugins_by_name()
    {
        var zed = Created(Plugin("Zed", typeof(SecondHandler)));
        var alpha = Created(Plugin("Alpha", typeof(FirstHandler)));
        var failure = new PluginFailure("Broken", "/plugins/Broken.dll", "not a .NET assembly", Reloaded.At);
        var rejected = new ReloadStatus(Reloaded.At, "plugins.yaml:3: invalid YAML");

        var snapshot = SnapshotBuilder.Build(42, Config(new Model("chat", "Alpha")), Set([zed, alpha], [failure]), rejected, strict: false);

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Generation, Is.EqualTo(42));
            Assert.That(snapshot.Reload, Is.SameAs(rejected));
            Assert.That(snapshot.Failures, Is.EqualTo(new[] { failure }));
            Assert.That(snapshot.Plugins, Is.EqualTo(new[] { alpha, zed }));
        });
    }

    private static ProxySnapshot Build(ProxyConfig config, PluginSet plugins, bool strict) => SnapshotBuilder.Build(1, config, plugins, Reloaded, strict);

    private static ProxyConfig Config(params Model[] models) => ConfigReader.Parse(Yaml.Config(models), "plugins.yaml");

    /// <summary>"chat" on p0 (Fakes:FirstHandler) and "lost" on a provider no entry of custom_provider_map names.</summary>
    private static ProxyConfig ConfigWithUnmappedProvider() =>
        ConfigReader.Parse(
            Yaml.Config(new Model("chat", "Fakes:FirstHandler"), new Model("lost", "Fakes:FirstHandler")).Replace("model: p1/lost-upstream", "model: nowhere/lost-upstream", StringComparison.Ordinal),
            "plugins.yaml");

    /// <summary>A plugin version defining <paramref name="handlerTypes"/>, in an empty load context; no handler created yet.</summary>
    private static LoadedPlugin Plugin(string name, params Type[] handlerTypes) =>
        new(new PluginFile(name, $"/plugins/{name}/{name}.dll"), "0123456789abcdef", 1, new AssemblyLoadContext(name, isCollectible: true), handlerTypes, "1.0.0");

    /// <summary>Creates every handler of <paramref name="plugin"/>, as loading it for a configuration does.</summary>
    private static LoadedPlugin Created(LoadedPlugin plugin)
    {
        foreach (var type in plugin.HandlerTypes)
        {
            plugin.GetHandler(type);
        }

        return plugin;
    }

    private static PluginSet Set(params LoadedPlugin[] plugins) => Set(plugins, []);

    private static PluginSet Set(IReadOnlyList<LoadedPlugin> plugins, IReadOnlyList<PluginFailure> failures, params string[] kept) =>
        new("/plugins", plugins, failures, kept.ToHashSet(StringComparer.Ordinal), Transient: false);

    public sealed class FirstHandler : CustomLlm;

    public sealed class SecondHandler : CustomLlm;

    public sealed class ThrowingHandler : CustomLlm
    {
        public ThrowingHandler() => throw new InvalidOperationException("no API key in litellm_params");
    }

    public sealed class CountingHandler : CustomLlm
    {
        public CountingHandler() => Interlocked.Increment(ref _constructed);

        private static int _constructed;

        public static int Constructed => Volatile.Read(ref _constructed);
    }
}
