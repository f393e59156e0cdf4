using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using PluginHost.Configuration;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// The command line: what each flag accepts, <c>--help</c>, and a wrong value stopping the start with exit code 2
/// and one line naming the flag, both as a parse and as the real executable.
/// </summary>
public sealed class CommandLineTests
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "cli-" + Guid.NewGuid().ToString("N")[..8]);

    private static readonly string Config = Path.Combine(Root, "plugins.yaml");

    private static readonly string Missing = Path.Combine(Root, "no-such-thing");

    [OneTimeSetUp]
    public static void CreateConfiguration()
    {
        Directory.CreateDirectory(Path.Combine(Root, "plugins"));
        TestProxy.InstallPlugin(Path.Combine(Root, "plugins"), "HiHandler", "HiHandler");
        File.WriteAllText(Config, Yaml.Config(new Model("hi", "HiHandler")));
    }

    [OneTimeTearDown]
    public static void DeleteConfiguration() => Directory.Delete(Root, recursive: true);

    private static PluginHostOptions Parse(params string[] args) => ParseWith(new Dictionary<string, string>(), args);

    /// <summary>Parses with <paramref name="environment"/> as the only environment variables.</summary>
    private static PluginHostOptions ParseWith(Dictionary<string, string> environment, params string[] args) =>
        HostCommandLine.Parse(["--config", Config, .. args], TextWriter.Null, name => environment.GetValueOrDefault(name))
        ?? throw new AssertionException("parsed as a request for help");

    [Test]
    public void Without_flags_every_default_holds()
    {
        var options = Parse();
        var defaults = new PluginHostOptions();

        Assert.That(options.ConfigPath, Is.EqualTo(Config));
        Assert.That(options.ResolvedPluginsDirectory, Is.EqualTo(Path.Combine(Root, "plugins")));
        Assert.That(options.Host.Text, Is.EqualTo("0.0.0.0"));
        Assert.That(options.Host.Address, Is.EqualTo(IPAddress.Any));
        Assert.That(options.Port, Is.EqualTo(4000));
        Assert.That(options.Watch, Is.True);
        Assert.That(options, Is.EqualTo(defaults with { ConfigPath = Config }));
    }

    [Test]
    public void Every_flag_is_read_in_its_long_and_short_forms()
    {
        var options = HostCommandLine.Parse(
            ["-c", Config, "--plugins", Path.Combine(Root, "plugins"), "--host", "127.0.0.1", "-p", "0", "--no-watch",
             "--drain-timeout", "1.5", "--unload-timeout", "2", "--shutdown-timeout", "3", "--constructor-timeout", "0.25"],
            TextWriter.Null,
            _ => null)!;

        Assert.That(options.ConfigPath, Is.EqualTo(Config));
        Assert.That(options.PluginsDirectory, Is.EqualTo(Path.Combine(Root, "plugins")));
        Assert.That(options.Host.Address, Is.EqualTo(IPAddress.Loopback));
        Assert.That(options.Port, Is.Zero);
        Assert.That(options.Watch, Is.False);
        Assert.That(options.DrainTimeout, Is.EqualTo(TimeSpan.FromSeconds(1.5)));
        Assert.That(options.UnloadTimeout, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That(options.ShutdownTimeout, Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(options.ConstructorTimeout, Is.EqualTo(TimeSpan.FromSeconds(0.25)));
    }

    [Test]
    public void Poll_turns_polling_on_every_second_and_poll_interval_sets_the_interval_and_turns_it_on()
    {
        var poll = Parse("--poll");
        var interval = Parse("--poll-interval", "0.25");

        Assert.That(Parse().Poll, Is.False);
        Assert.That((poll.Watch, poll.Poll, poll.PollInterval), Is.EqualTo((true, true, TimeSpan.FromSeconds(1))));
        Assert.That((interval.Watch, interval.Poll, interval.PollInterval), Is.EqualTo((true, true, TimeSpan.FromSeconds(0.25))));
    }

    [TestCase("plain", "Plain")]
    [TestCase("json", "Json")]
    [TestCase("JSON", "Json")]
    public void Log_format_takes_plain_or_json(string value, string format)
    {
        Assert.That(Parse("--log-format", value).LogFormat, Is.EqualTo(Enum.Parse<LogFormat>(format)));
        Assert.That(Parse().LogFormat, Is.EqualTo(LogFormat.Plain));
    }

    [Test]
    public void Inline_io_is_off_unless_given()
    {
        Assert.That(Parse().InlineIo, Is.False);
        Assert.That(Parse("--inline-io").InlineIo, Is.True);
    }

    [TestCase("DOTNET_USE_POLLING_FILE_WATCHER", "1", true)]
    [TestCase("DOTNET_USE_POLLING_FILE_WATCHER", "true", true)]
    [TestCase("DOTNET_USE_POLLING_FILE_WATCHER", "TRUE", true)]
    [TestCase("PLUGINHOST_USE_POLLING_FILE_WATCHER", "1", true)]
    [TestCase("PLUGINHOST_USE_POLLING_FILE_WATCHER", "true", true)]
    [TestCase("PLUGINHOST_USE_POLLING_FILE_WATCHER", "0", false)]
    [TestCase("PLUGINHOST_USE_POLLING_FILE_WATCHER", "false", false)]
    [TestCase("PLUGINHOST_USE_POLLING_FILE_WATCHER", "", false)]
    [TestCase("DOTNET_USE_POLLING_FILE_WATCHER", "yes", false)]
    public void An_environment_variable_turns_polling_on_as_dotnet_reads_it(string variable, string value, bool polls)
    {
        Assert.That(ParseWith(new() { [variable] = value }).Poll, Is.EqualTo(polls));
    }

    [Test]
    public void No_watch_wins_over_the_polling_environment_variable()
    {
        var options = ParseWith(new() { ["DOTNET_USE_POLLING_FILE_WATCHER"] = "1" }, "--no-watch");

        Assert.That((options.Watch, options.Poll), Is.EqualTo((false, false)));
    }

    [Test]
    public void A_value_may_follow_its_flag_after_an_equals_sign()
    {
        Assert.That(Parse("--port=4100").Port, Is.EqualTo(4100));
    }

    [TestCase("0.0.0.0", "0.0.0.0")]
    [TestCase("127.0.0.1", "127.0.0.1")]
    [TestCase("::", "::")]
    [TestCase("::1", "::1")]
    [TestCase("[::1]", "::1")]
    [TestCase("fe80::1", "fe80::1")]
    public void Host_takes_an_IP_address(string host, string address)
    {
        Assert.That(Parse("--host", host).Host.Address, Is.EqualTo(IPAddress.Parse(address)));
    }

    [TestCase("localhost")]
    [TestCase("*")]
    [TestCase("+")]
    public void Host_takes_localhost_and_every_interface(string host)
    {
        var parsed = Parse("--host", host).Host;

        Assert.That(parsed.Text, Is.EqualTo(host));
        Assert.That(parsed.Address, Is.Null);
    }

    [Test]
    public void A_missing_default_plugins_folder_is_accepted()
    {
        var root = Path.Combine(Root, "fresh");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "plugins.yaml"), Yaml.Config(new Model("hi", "HiHandler")));

        var options = HostCommandLine.Parse(["--config", Path.Combine(root, "plugins.yaml")], TextWriter.Null)!;

        Assert.That(options.PluginsDirectory, Is.Null);
        Assert.That(options.ResolvedPluginsDirectory, Is.EqualTo(Path.Combine(root, "plugins")));
    }

    public static IEnumerable<TestCaseData> WrongCommandLines()
    {
        TestCaseData Case(string flag, params string[] args) => new TestCaseData(args, flag).SetArgDisplayNames(string.Join(' ', args));

        yield return Case("--port", "--port", "abc");
        yield return Case("--port", "--port", "70000");
        yield return Case("--port", "--port", "-1");
        yield return Case("--port", "--port", "4000.5");
        yield return Case("--port", "-p", "abc");
        yield return Case("--port", "--port");
        yield return Case("--port", "--port", "1", "--port", "2");
        yield return Case("--host", "--host", "example.org");
        yield return Case("--host", "--host", "1");
        yield return Case("--host", "--host", "127.1");
        yield return Case("--host", "--host", "[::1]:80");
        yield return Case("--host", "--host", "127.0.0.1:80");
        yield return Case("--host", "--host", "");
        yield return Case("--host", "--host");
        yield return Case("--prot", "--prot", "3");
        yield return Case("-x", "-x");
        yield return Case("yes", "--no-watch", "yes");
        yield return Case("4000", "4000");
        yield return Case("--poll-interval", "--poll-interval", "0.05");
        yield return Case("--poll-interval", "--poll-interval", "3601");
        yield return Case("--poll-interval", "--poll-interval", "often");
        yield return Case("--poll-interval", "--poll-interval");
        yield return Case("--poll", "--poll", "--no-watch");
        yield return Case("--poll-interval", "--no-watch", "--poll-interval", "2");
        yield return Case("yes", "--poll", "yes");
        yield return Case("--log-format", "--log-format", "xml");
        yield return Case("--log-format", "--log-format", "");
        yield return Case("--log-format", "--log-format");
        foreach (var timeout in new[] { "--drain-timeout", "--unload-timeout", "--shutdown-timeout", "--constructor-timeout" })
        {
            foreach (var value in new[] { "abc", "0", "-1", "0.0001", "86401", "1e300", "NaN", "Infinity" })
            {
                yield return Case(timeout, timeout, value);
            }

            yield return Case(timeout, timeout);
        }

        yield return Case("--plugins", "--plugins", Missing);
        yield return Case("--plugins", "--plugins", Config);
        yield return Case("--plugins", "--plugins", "");
        yield return Case("--config", "--config", Missing);
        yield return Case("--config", "--config", Root);
        yield return Case("--config", "--config", "");
        yield return Case("--config", "--config");
    }

    [TestCaseSource(nameof(WrongCommandLines))]
    public void A_wrong_command_line_names_the_flag(string[] args, string flag)
    {
        // The valid --config comes first, so a --config under test is the repeated one only when it is the error itself.
        string[] line = args.Length > 0 && args[0] == "--config" ? args : ["--config", Config, .. args];

        var error = Assert.Throws<CommandLineException>(() => HostCommandLine.Parse(line, TextWriter.Null, _ => null));

        Assert.That(error.Flag, Is.EqualTo(flag));
        Assert.That(error.Message, Does.Contain(flag));
        Assert.That(error.Message, Does.Not.Contain('\n'));
    }

    [TestCase("--port", "abc", "a number from 0 to 65535")]
    [TestCase("--host", "example.org", "an IPv4 or IPv6 address")]
    [TestCase("--drain-timeout", "0", "a number of seconds from 0.001 to 86400")]
    [TestCase("--plugins", "/no/such/folder", "an existing folder")]
    [TestCase("--log-format", "xml", "plain (one readable line per entry, the access log as key=value pairs) or json")]
    public void A_wrong_value_says_what_the_flag_accepts(string flag, string value, string accepted)
    {
        var error = Assert.Throws<CommandLineException>(() => Parse(flag, value));

        Assert.That(error.Message, Does.StartWith($"{flag} '{value}'").And.Contain(accepted));
    }

    [Test]
    public void A_missing_configuration_file_is_named_with_where_it_was_looked_for()
    {
        var error = Assert.Throws<CommandLineException>(() => HostCommandLine.Parse(["--config", "no-such.yaml"], TextWriter.Null));

        Assert.That(error.Flag, Is.EqualTo("--config"));
        Assert.That(error.Message, Does.Contain(Path.GetFullPath("no-such.yaml")));
    }

    [TestCase("--help")]
    [TestCase("-h")]
    [TestCase("-?")]
    public void Help_lists_every_flag_with_what_it_accepts_and_its_default(string help)
    {
        using var output = new StringWriter();

        var options = HostCommandLine.Parse([help], output);

        Assert.That(options, Is.Null);
        var text = output.ToString();
        foreach (var flag in new[] { "-c, --config <FILE>", "--plugins <DIR>", "--host <ADDRESS>", "-p, --port <PORT>", "--no-watch", "--poll", "--poll-interval <SECONDS>", "--drain-timeout <SECONDS>", "--unload-timeout <SECONDS>", "--shutdown-timeout <SECONDS>", "--constructor-timeout <SECONDS>", "--log-format <FORMAT>", "--help" })
        {
            Assert.That(text, Does.Contain(flag));
        }

        Assert.That(text, Does.Contain("[default: plugins.yaml]").And.Contain("[default: 0.0.0.0]").And.Contain("[default: 4000]").And.Contain("[default: 300]").And.Contain("[default: plain]"));
        Assert.That(text, Does.Contain("a number from 0 to 65535").And.Contain("localhost").And.Contain("beside the configuration file"));
        Assert.That(text, Does.Contain("DOTNET_USE_POLLING_FILE_WATCHER").And.Contain("PLUGINHOST_USE_POLLING_FILE_WATCHER"));
    }

    [Test]
    public void Help_is_answered_even_beside_a_wrong_value()
    {
        Assert.That(HostCommandLine.Parse(["--port", "abc", "--help"], TextWriter.Null), Is.Null);
    }

    [TestCase("localhost")]
    [TestCase("*")]
    public async Task The_proxy_listening_on_localhost_or_every_interface_answers_on_the_IPv4_loopback(string host)
    {
        await using var app = PluginHostApplication.Build(["--config", Config, "--host", host, "--port", "0", "--no-watch"], logging => logging.ClearProviders());
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health/liveliness"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        await app.StopAsync();
    }

    [Test]
    public async Task The_executable_prints_help_and_exits_0()
    {
        var run = await RunHostAsync(["--help"]);

        Assert.That(run.ExitCode, Is.Zero, run.StandardError);
        Assert.That(run.StandardOutput, Does.Contain("Usage:").And.Contain("--port <PORT>").And.Contain("[default: 4000]"));
        Assert.That(run.StandardError, Is.Empty);
    }

    [TestCase("--port", "--port", "abc")]
    [TestCase("--port", "--port", "70000")]
    [TestCase("--host", "--host", "example.org")]
    [TestCase("--no-such-flag", "--no-such-flag")]
    [TestCase("--drain-timeout", "--drain-timeout", "soon")]
    public async Task The_executable_exits_2_with_one_line_naming_the_flag(string flag, params string[] args)
    {
        var run = await RunHostAsync(["--config", Config, "--no-watch", .. args]);

        AssertOneLineNaming(run, flag);
    }

    [Test]
    public async Task The_executable_exits_2_naming_a_missing_plugins_folder()
    {
        var run = await RunHostAsync(["--config", Config, "--plugins", Missing, "--no-watch"]);

        AssertOneLineNaming(run, "--plugins");
        Assert.That(run.StandardError, Does.Contain(Missing));
    }

    [Test]
    public async Task The_executable_exits_2_naming_a_missing_configuration_file_given_or_not()
    {
        var given = await RunHostAsync(["--config", Missing]);

        // Not given: plugins.yaml in the working folder, here one without it.
        var notGiven = await RunHostAsync([], workingDirectory: Path.Combine(Root, "plugins"));

        AssertOneLineNaming(given, "--config");
        Assert.That(given.StandardError, Does.Contain(Missing));
        AssertOneLineNaming(notGiven, "--config");
        Assert.That(notGiven.StandardError, Does.Contain(Path.Combine(Root, "plugins", "plugins.yaml")));
    }

    [Test]
    public async Task The_executable_exits_2_naming_the_port_when_it_is_in_use()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var run = await RunHostAsync(["--config", Config, "--host", "127.0.0.1", "--port", port, "--no-watch"]);

        // Only standard error: the hosting log on standard output reports the failure its own way.
        Assert.That(run.ExitCode, Is.EqualTo(2), run.StandardError);
        Assert.That(run.StandardError.TrimEnd(), Does.StartWith($"PluginHost cannot start: --host 127.0.0.1 --port {port}: ").And.Contain("address already in use").And.Not.Contain('\n'));
    }

    private static void AssertOneLineNaming(HostRun run, string flag)
    {
        Assert.That(run.ExitCode, Is.EqualTo(2), run.StandardError);
        var lines = run.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), run.StandardError);
        Assert.That(lines[0], Does.StartWith("PluginHost cannot start: ").And.Contain(flag));
        Assert.That(run.StandardError + run.StandardOutput, Does.Not.Contain("   at ").And.Not.Contain("Exception"));
    }

    private sealed record HostRun(int ExitCode, string StandardOutput, string StandardError);

    /// <summary>Runs the built host (<c>dotnet PluginHost.dll</c>, beside the tests) to its exit, at most 30 seconds.</summary>
    private static async Task<HostRun> RunHostAsync(string[] args, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = workingDirectory ?? Root,
        };
        start.ArgumentList.Add(typeof(PluginHostApplication).Assembly.Location);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return new HostRun(process.ExitCode, await stdout, await stderr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"PluginHost {string.Join(' ', args)} did not exit within 30 seconds.");
        }
    }
}
