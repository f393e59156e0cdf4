using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using PluginHost.Plugins;

namespace PluginHost.Configuration;

/// <summary>A command-line value that cannot be used: the message names the flag and what it accepts.</summary>
internal sealed class CommandLineException(string flag, string message) : ConfigException(message)
{
    /// <summary>The flag at fault as the help text lists it (<c>--port</c>, not <c>-p</c>), or the unknown argument.</summary>
    public string Flag { get; } = flag;
}

/// <summary>A <c>keygen</c>, <c>sign</c> or <c>hash</c> command that failed: one line saying why (exit code 1).</summary>
internal sealed class ToolCommandException(string message) : ConfigException(message);

/// <summary>
/// The command line, read with System.CommandLine: every flag is declared once, with what it accepts and its
/// default, and <c>--help</c> is made from those declarations. Values are checked here, the files named included,
/// so a wrong one stops the start with one line naming the flag instead of an exception later.
/// </summary>
internal static class HostCommandLine
{
    private const string SecondsAccepted = "a number of seconds from 0.001 to 86400";

    private const string PollIntervalAccepted = "a number of seconds from 0.1 to 3600";

    /// <summary>
    /// Environment variables that turn polling on when 1 or true: .NET's own (what <c>dotnet watch</c> and the
    /// ASP.NET Core file providers read, so a container set up for them polls here too) and ours.
    /// </summary>
    private static readonly IReadOnlyList<string> PollingVariables = ["DOTNET_USE_POLLING_FILE_WATCHER", "PLUGINHOST_USE_POLLING_FILE_WATCHER"];

    private static readonly PluginHostOptions Defaults = new();

    // What each flag with a value accepts, by name: the help line and the "needs a value" error say the same.
    private static readonly Dictionary<string, string> Accepted = [];

    private static readonly Option<string> Config = Valued(
        new Option<string>("--config", "-c") { HelpName = "FILE", DefaultValueFactory = _ => Defaults.ConfigPath },
        "The configuration file (LiteLLM's keys)",
        "the path of an existing file",
        text => (text.Trim().Length > 0, text));

    private static readonly Option<string?> Plugins = Valued(
        new Option<string?>("--plugins") { HelpName = "DIR" },
        "The folder of handler plugins",
        "the path of an existing folder",
        text => (text.Trim().Length > 0, text),
        defaultText: "plugins/ beside the configuration file, which may be missing");

    private static readonly Option<ListenHost> Host = Valued(
        new Option<ListenHost>("--host") { HelpName = "ADDRESS", DefaultValueFactory = _ => Defaults.Host },
        "The address to listen on",
        ListenHost.Accepts,
        text => (ListenHost.TryParse(text, out var host), host!));

    private static readonly Option<int> Port = Valued(
        new Option<int>("--port", "-p") { HelpName = "PORT", DefaultValueFactory = _ => Defaults.Port },
        "The port to listen on",
        "a number from 0 to 65535 (0 picks a free port)",
        text => (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65_535, port));

    private static readonly Option<bool> NoWatch = new("--no-watch")
    {
        Description = "Do not watch the plugins folder and the configuration file: no hot reload.",
        Arity = ArgumentArity.Zero,
    };

    private static readonly Option<bool> Poll = new("--poll")
    {
        Description = $"Find changes by scanning the plugins folder and the configuration file every --poll-interval instead of by file system events, which bind mounts and network shares do not deliver. Also on when {PollingVariables[0]} or {PollingVariables[1]} is 1 or true.",
        Arity = ArgumentArity.Zero,
    };

    private static readonly Option<double> PollInterval = Valued(
        new Option<double>("--poll-interval") { HelpName = "SECONDS", DefaultValueFactory = _ => Defaults.PollInterval.TotalSeconds },
        "How often polling scans (giving it turns polling on)",
        PollIntervalAccepted,
        text => (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0.1 and <= 3_600, seconds));

    private static readonly Option<double> DrainTimeout = Seconds("--drain-timeout", "How long a replaced plugin version may finish its running requests before it is unloaded anyway", Defaults.DrainTimeout);

    private static readonly Option<double> UnloadTimeout = Seconds("--unload-timeout", "How long an unloaded plugin may stay in memory before it is reported as leaked", Defaults.UnloadTimeout);

    private static readonly Option<double> ShutdownTimeout = Seconds("--shutdown-timeout", "How long Ctrl+C or SIGTERM waits for running requests and streams, then at most as long for the plugins to be disposed, before the process exits anyway", Defaults.ShutdownTimeout);

    private static readonly Option<double> ConstructorTimeout = Seconds("--constructor-timeout", "How long a handler's constructor may run before its version counts as failed", Defaults.ConstructorTimeout);

    private static readonly Option<bool> AccessLog = new("--access-log")
    {
        Description = "Write the access log: one line per request (category PluginHost.Access). Off by default: a console line per request costs a small handler about half its throughput (README, Access log).",
        Arity = ArgumentArity.Zero,
    };

    private static readonly Option<bool> InlineIo = new("--inline-io")
    {
        Description = "Run requests on the socket threads, with no hop through the thread pool: fewer context switches per request, but a handler that blocks (a synchronous Completion doing I/O) stalls other connections. Only for handlers that never block (README, Inline I/O).",
        Arity = ArgumentArity.Zero,
    };

    private static readonly Option<LogFormat> Format = Valued(
        new Option<LogFormat>("--log-format") { HelpName = "FORMAT" },
        "How the console log is written, the access log included",
        "plain (one readable line per entry, the access log as key=value pairs) or json (one JSON object per line)",
        text => text.ToLowerInvariant() switch
        {
            "plain" => (true, LogFormat.Plain),
            "json" => (true, LogFormat.Json),
            _ => (false, default),
        },
        defaultText: "plain"); // not given, the option's value is default(LogFormat), Plain

    private static readonly Option<string> KeyOut = Valued(
        new Option<string>("--out") { HelpName = "PREFIX", Required = true },
        "Where to write the key pair, PREFIX.pem (the private key) and PREFIX.pub.pem (the public key); existing files are not overwritten",
        "a path prefix, e.g. --out deploy for deploy.pem and deploy.pub.pem",
        text => (text.Trim().Length > 0, text));

    private static readonly Option<string> SigningKey = Valued(
        new Option<string>("--key") { HelpName = "FILE", Required = true },
        "The private key to sign with",
        "the PREFIX.pem file keygen wrote",
        text => (text.Trim().Length > 0, text));

    private static readonly Argument<string[]> SignFiles = new("FILE") { Description = "The plugin assemblies (and, for a folder plugin, its dependency assemblies) to sign.", Arity = ArgumentArity.OneOrMore };

    private static readonly Argument<string[]> HashFiles = new("FILE") { Description = "The assemblies to hash.", Arity = ArgumentArity.OneOrMore };

    private static readonly Command KeyGen = Tool(
        new Command("keygen", "Make an ECDSA P-256 key pair for signing plugins.") { KeyOut },
        (result, output) => SigningCommands.KeyGen(result.GetValue(KeyOut)!, output));

    private static readonly Command Sign = Tool(
        new Command("sign", "Sign plugin assemblies: writes FILE.sig beside each, which a key in general_settings.trusted_plugin_keys verifies.") { SigningKey, SignFiles },
        (result, output) => SigningCommands.Sign(result.GetValue(SigningKey)!, result.GetValue(SignFiles)!, output));

    private static readonly Command Hash = Tool(
        new Command("hash", "Print the SHA-256 of assemblies, to list in general_settings.allowed_plugin_sha256.") { HashFiles },
        (result, output) => SigningCommands.Hash(result.GetValue(HashFiles)!, output));

    private static readonly RootCommand Root = Serving(new(
        "PluginHost: an OpenAI-compatible LLM proxy whose providers are handler plugins, reloaded when they change.\n" +
        "Exit codes: 0 after a normal stop (Ctrl+C, SIGTERM) or --help; 1 when keygen, sign or hash fails; 2 when a flag, the configuration or the address to listen on is wrong (one line on standard error); " +
        "3 when a stop had to be forced (the shutdown outlasted --shutdown-timeout: a plugin's Dispose hung); 4 when the process had to be ended because even exiting hung (a plugin's process-exit handler).")
    {
        Config, Plugins, Host, Port, NoWatch, Poll, PollInterval, DrainTimeout, UnloadTimeout, ShutdownTimeout, ConstructorTimeout, AccessLog, InlineIo, Format, KeyGen, Sign, Hash,
    });

    // Arguments are taken as they are: no @file expansion, so a path starting with @ means that path.
    private static readonly ParserConfiguration Parser = new() { ResponseFileTokenReplacer = null };

    /// <summary>
    /// Reads <paramref name="args"/>. Returns null when they ask for <c>--help</c> (or <c>-h</c>, <c>-?</c>) or
    /// <c>--version</c>, after writing the answer to <paramref name="output"/> (standard output by default).
    /// </summary>
    /// <param name="args">The command line.</param>
    /// <param name="output">Where <c>--help</c> is written.</param>
    /// <param name="environment">Reads an environment variable (the process's by default).</param>
    /// <exception cref="CommandLineException">A flag is unknown, has a wrong value, or names a file or folder that does not exist.</exception>
    public static PluginHostOptions? Parse(IReadOnlyList<string> args, TextWriter? output = null, Func<string, string?>? environment = null)
    {
        var result = Root.Parse(args, Parser);
        if (result.Errors.Count > 0)
        {
            throw Error(result, result.Errors[0]);
        }

        if (result.Action is { } action && action != Root.Action)
        {
            // A command's failure propagates as its exception (Program turns it into one line and an exit code).
            result.Invoke(new InvocationConfiguration { Output = output ?? Console.Out, EnableDefaultExceptionHandler = false });
            return null;
        }

        var options = new PluginHostOptions
        {
            ConfigPath = result.GetValue(Config)!,
            PluginsDirectory = result.GetValue(Plugins),
            Host = result.GetValue(Host)!,
            Port = result.GetValue(Port),
            Watch = !result.GetValue(NoWatch),
            Poll = !result.GetValue(NoWatch) && (result.GetValue(Poll) || Given(result, PollInterval) || PollingVariables.Any(name => IsTrue((environment ?? Environment.GetEnvironmentVariable)(name)))),
            PollInterval = TimeSpan.FromSeconds(result.GetValue(PollInterval)),
            DrainTimeout = TimeSpan.FromSeconds(result.GetValue(DrainTimeout)),
            UnloadTimeout = TimeSpan.FromSeconds(result.GetValue(UnloadTimeout)),
            ShutdownTimeout = TimeSpan.FromSeconds(result.GetValue(ShutdownTimeout)),
            ConstructorTimeout = TimeSpan.FromSeconds(result.GetValue(ConstructorTimeout)),
            LogFormat = result.GetValue(Format),
            AccessLog = result.GetValue(AccessLog),
            InlineIo = result.GetValue(InlineIo),
        };
        CheckPathsExist(options);
        CheckWatchFlagsAgree(result);
        return options;
    }

    private static bool Given(ParseResult result, Option option) => result.GetResult(option) is { Implicit: false };

    // As .NET reads DOTNET_USE_POLLING_FILE_WATCHER.
    private static bool IsTrue(string? value) => value == "1" || string.Equals(value, "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Polling is a way of watching: asking for it and for no watching at all is a contradiction to point out.</summary>
    private static void CheckWatchFlagsAgree(ParseResult result)
    {
        if (result.GetValue(NoWatch) && (Given(result, Poll) || Given(result, PollInterval)))
        {
            var flag = Given(result, Poll) ? Poll.Name : PollInterval.Name;
            throw new CommandLineException(flag, $"{flag} asks to watch by polling, {NoWatch.Name} not to watch at all: give one of them.");
        }
    }

    /// <summary>
    /// The configuration file must exist (given or not: there is nothing to serve without it). A plugins folder
    /// given with <c>--plugins</c> must exist, since a typo would otherwise serve an empty folder; the default one
    /// beside the configuration file may be missing (a fresh setup), and is read as empty.
    /// </summary>
    private static void CheckPathsExist(PluginHostOptions options)
    {
        if (!File.Exists(options.ResolvedConfigPath))
        {
            var what = Directory.Exists(options.ResolvedConfigPath) ? "is a folder" : "does not exist";
            throw new CommandLineException(Config.Name, $"{Config.Name} {Named(options.ConfigPath, options.ResolvedConfigPath)} {what}: expected an existing configuration file.");
        }

        if (options.PluginsDirectory is { } plugins && !Directory.Exists(options.ResolvedPluginsDirectory))
        {
            var what = File.Exists(options.ResolvedPluginsDirectory) ? "is a file" : "does not exist";
            throw new CommandLineException(Plugins.Name, $"{Plugins.Name} {Named(plugins, options.ResolvedPluginsDirectory)} {what}: expected an existing folder of plugins.");
        }
    }

    /// <summary>A path as given, and where it resolved to when that differs (a relative path).</summary>
    private static string Named(string given, string resolved) => given == resolved ? $"'{given}'" : $"'{given}' ({resolved})";

    /// <summary>The first error as one line: our own messages for values, and for the parser's own findings.</summary>
    private static CommandLineException Error(ParseResult result, ParseError error)
    {
        if (error.SymbolResult is OptionResult { Option: var option } optionResult)
        {
            var message = optionResult.Tokens.Count switch
            {
                0 => $"{option.Name} needs a value: {Accepted.GetValueOrDefault(option.Name, "a value")}.",
                > 1 => $"{option.Name} is given more than once; give it once.",
                _ => error.Message,
            };
            return new CommandLineException(option.Name, message);
        }

        if (error.SymbolResult is ArgumentResult { Argument: var argument } && result.CommandResult.Command is var command and not RootCommand)
        {
            return new CommandLineException(argument.Name, $"at least one {argument.Name} is needed; pluginhost {command.Name} --help says more.");
        }

        var token = result.UnmatchedTokens.Count > 0 ? result.UnmatchedTokens[0] : string.Join(' ', result.Tokens.Select(t => t.Value));
        return token.StartsWith('-')
            ? new CommandLineException(token, $"unknown option '{token}'; PluginHost --help lists them.")
            : new CommandLineException(token, $"unexpected argument '{token}' (every value follows its flag); PluginHost --help lists the flags.");
    }

    /// <summary>
    /// Declares what a flag with a value accepts and parses its value; a wrong value is an error naming the flag,
    /// the value and what it accepts.
    /// </summary>
    private static Option<T> Valued<T>(Option<T> option, string what, string accepts, Func<string, (bool Ok, T Value)> parse, string? defaultText = null)
    {
        Accepted[option.Name] = accepts;
        option.Description = $"{what}: {accepts}." + (defaultText is null ? string.Empty : $" [default: {defaultText}]");
        option.CustomParser = result =>
        {
            var text = result.Tokens[0].Value;
            var (ok, value) = parse(text);
            if (!ok)
            {
                result.AddError($"{option.Name} '{text}': expected {accepts}.");
            }

            return value;
        };
        return option;
    }

    /// <summary>Whether <paramref name="args"/> run one of the tool's commands (<c>keygen</c>, <c>sign</c>, <c>hash</c>) rather than the proxy.</summary>
    public static bool IsToolCommand(IReadOnlyList<string> args) => args.Count > 0 && Root.Subcommands.Any(c => c.Name == args[0]);

    /// <summary>
    /// Serving is the root command's own job, done by Program with the options read here; the action only marks it as
    /// runnable (a root command with subcommands and no action is an error when no subcommand is given).
    /// </summary>
    private static RootCommand Serving(RootCommand root)
    {
        root.SetAction(_ => 0);
        return root;
    }

    /// <summary>A command of the tool that runs <paramref name="run"/> with where to write, and exits 0 when it returns.</summary>
    private static Command Tool(Command command, Action<ParseResult, TextWriter> run)
    {
        command.SetAction(result =>
        {
            run(result, result.InvocationConfiguration.Output);
            return 0;
        });
        return command;
    }

    private static Option<double> Seconds(string name, string what, TimeSpan defaultValue) => Valued(
        new Option<double>(name) { HelpName = "SECONDS", DefaultValueFactory = _ => defaultValue.TotalSeconds },
        what,
        SecondsAccepted,
        text => (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0.001 and <= 86_400, seconds));
}
