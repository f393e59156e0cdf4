using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using OpenAI.Chat;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// The access log (category <c>PluginHost.Access</c>): one entry per request, every request, with the fields the
/// request pipeline recorded; never a key, never prompt or answer text; plain by default, JSON with
/// <c>--log-format json</c> (the last two tests run the real executable and read its console).
/// </summary>
public sealed partial class AccessLogTests
{
    private const string Secret = "the-secret-prompt-words";

    private static readonly string Config = Yaml.Config(
        new Model("hi", "HiHandler"),
        new Model("echo", "EchoHandler"),
        new Model("scripted", "TestHandlers:TestHandlers.Scripted"));

    private TestProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartProxy() => _proxy = await TestProxy.StartAsync(Config, "HiHandler", "EchoHandler", "TestHandlers");

    [OneTimeTearDown]
    public async Task StopProxy() => await _proxy.DisposeAsync();

    /// <summary>Waits for the entry of the request that <paramref name="matches"/> (written when the request ends, after the client may already have its answer).</summary>
    private static async Task<AccessEntry> LoggedAsync(TestProxy proxy, Func<AccessEntry, bool> matches, string what)
    {
        AccessEntry? found = null;
        await Wait.UntilAsync(() => (found = proxy.Logs.Access.LastOrDefault(matches)) is not null, $"the access log entry of {what}");
        return found!;
    }

    /// <summary>A request the test can find again: its model name is unique.</summary>
    private static string Marker() => "m" + Guid.NewGuid().ToString("N")[..8];

    [Test]
    public async Task A_chat_completion_logs_one_line_with_what_the_pipeline_recorded()
    {
        var response = await _proxy.PostAsync("/v1/chat/completions", $$"""{"model":"hi","messages":[{"role":"user","content":"{{Secret}}"}]}""");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var deployment = response.Headers.GetValues("x-litellm-model-id").Single();
        var generation = _proxy.Runtime.Current.Plugins.Single(p => p.Name == "HiHandler").Generation;

        var entry = await LoggedAsync(_proxy, e => e.Path == "/v1/chat/completions" && e.Has("Model", "hi"), "the chat completion");

        Assert.Multiple(() =>
        {
            Assert.That(entry["Method"], Is.EqualTo("POST"));
            Assert.That(entry.Status, Is.EqualTo(200));
            Assert.That(entry["DurationMs"], Is.TypeOf<double>().And.GreaterThan(0));
            Assert.That(entry["Operation"], Is.EqualTo("chat"));
            Assert.That(entry["ModelGroup"], Is.EqualTo("hi"));
            Assert.That(entry["Deployment"], Is.EqualTo(deployment));
            Assert.That(entry["Plugin"], Is.EqualTo("HiHandler"));
            Assert.That(entry["Generation"], Is.EqualTo(generation));
            Assert.That(entry["Stream"], Is.False);
            Assert.That(entry["TtfcMs"], Is.Null);
            Assert.That(entry["PromptTokens"], Is.EqualTo(10));
            Assert.That(entry["CompletionTokens"], Is.EqualTo(20));
            Assert.That(entry["Retries"], Is.Zero);
            Assert.That(entry["Fallbacks"], Is.Zero);
            Assert.That(entry["Error"], Is.Null);
        });
        Assert.That(
            entry.Message,
            Does.Match($@"^method=POST path=/v1/chat/completions status=200 duration_ms=[0-9.]+ operation=chat model=hi model_group=hi deployment={deployment} plugin=HiHandler generation={generation} stream=False ttfc_ms= prompt_tokens=10 completion_tokens=20 retries=0 fallbacks=0 error=$"));
    }

    [Test]
    public async Task A_stream_logs_its_time_to_first_chunk_and_usage()
    {
        var stream = _proxy.Chat("echo").CompleteChatStreamingAsync([new UserChatMessage("three little words")], new ChatCompletionOptions());
        var answer = await StreamedChat.ReadAsync(stream);
        Assert.That(answer.Text, Is.EqualTo("three little words"));

        var entry = await LoggedAsync(_proxy, e => e.Has("Model", "echo") && e.Has("Stream", true), "the stream");

        Assert.Multiple(() =>
        {
            Assert.That(entry.Status, Is.EqualTo(200));
            Assert.That(entry["TtfcMs"], Is.TypeOf<double>().And.GreaterThan(0).And.LessThanOrEqualTo(entry["DurationMs"]!));
            Assert.That(entry["PromptTokens"], Is.EqualTo(3));
            Assert.That(entry["CompletionTokens"], Is.EqualTo(3));
            Assert.That(entry["Plugin"], Is.EqualTo("EchoHandler"));
            Assert.That(entry.Message, Does.Contain(" stream=True ttfc_ms=").And.Not.Contain("ttfc_ms= "));
        });
    }

    [Test]
    public async Task An_error_after_the_first_chunk_is_logged_as_the_streams_error()
    {
        var marker = Marker();
        using var response = await _proxy.PostAsync("/v1/chat/completions", $$"""{"model":"scripted","stream":true,"messages":[{"role":"user","content":"fail-after-first:503"}],"user":"{{marker}}"}""");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the status was sent with the first chunk");
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("\"error\""));

        var entry = await LoggedAsync(_proxy, e => e.Has("Model", "scripted") && e.Has("Stream", true) && e.Fields["Error"] is not null, "the failed stream");

        Assert.That(entry.Status, Is.EqualTo(200));
        Assert.That(entry["Error"], Is.EqualTo("InternalServer"));
    }

    [Test]
    public async Task A_handler_error_logs_its_status_and_error_class()
    {
        using var response = await _proxy.PostAsync("/v1/chat/completions", """{"model":"scripted","messages":[{"role":"user","content":"fail:429"}]}""");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));

        var entry = await LoggedAsync(_proxy, e => e.Has("Model", "scripted") && e.Status == 429, "the failed request");

        Assert.That(entry["Error"], Is.EqualTo("RateLimit"));
        Assert.That(entry["Plugin"], Is.EqualTo("TestHandlers"));
        Assert.That(entry.Message, Does.EndWith(" error=RateLimit"));
    }

    [Test]
    public async Task A_refused_key_is_logged_without_the_key_or_the_authorization_header()
    {
        using var anonymous = new HttpClient { BaseAddress = _proxy.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions?marker=wrong-key")
        {
            Content = new StringContent($$"""{"model":"hi","messages":[{"role":"user","content":"{{Secret}}"}]}"""),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-wrong-secret-key");

        using var response = await anonymous.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        var entry = await LoggedAsync(_proxy, e => e.Status == 401, "the refused request");

        Assert.That(entry.Message, Does.Match("^method=POST path=/v1/chat/completions status=401 duration_ms=[0-9.]+ error=Authentication$"));
        Assert.That(entry.Fields.Keys, Is.EquivalentTo(new[] { "Method", "Path", "Status", "DurationMs", "Error" }));
        AssertNothingSecretIsLogged(_proxy.Logs.Lines);
    }

    [Test]
    public async Task The_path_is_logged_without_its_query_string()
    {
        using var response = await _proxy.Http.GetAsync("/v1/models?api_key=sk-in-the-query");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        var entry = await LoggedAsync(_proxy, e => e.Path == "/v1/models", "the model list");

        Assert.That(entry.Message, Does.Match("^method=GET path=/v1/models status=200 duration_ms=[0-9.]+$"));
        Assert.That(_proxy.Logs.Lines, Has.None.Contains("sk-in-the-query"));
    }

    [Test]
    public async Task Requests_refused_before_the_handler_are_logged_with_their_status()
    {
        var marker = Marker();
        using var unknownRoute = await _proxy.Http.GetAsync($"/v1/{marker}");
        using var badJson = await _proxy.PostAsync("/v1/embeddings", "{not json");
        using var unknownModel = await _proxy.PostAsync("/v1/chat/completions", $$"""{"model":"{{marker}}","messages":[{"role":"user","content":"{{Secret}}"}]}""");
        using var wrongMethod = await _proxy.Http.GetAsync("/v1/chat/completions");

        var notFound = await LoggedAsync(_proxy, e => e.Path == $"/v1/{marker}", "the unknown route");
        var bad = await LoggedAsync(_proxy, e => e.Path == "/v1/embeddings" && e.Status == 400, "the malformed body");
        var noModel = await LoggedAsync(_proxy, e => e.Has("Model", marker), "the unknown model");
        var method = await LoggedAsync(_proxy, e => e.Path == "/v1/chat/completions" && e.Status == 405, "the wrong method");

        Assert.Multiple(() =>
        {
            Assert.That(notFound.Status, Is.EqualTo(404));
            Assert.That(notFound["Error"], Is.EqualTo("NotFound"));
            Assert.That(bad["Operation"], Is.EqualTo("embeddings"));
            Assert.That(bad["Error"], Is.EqualTo("BadRequest"));
            Assert.That(bad["Model"], Is.Null, "the body was not read");
            Assert.That(noModel.Status, Is.EqualTo(400));
            Assert.That(noModel["Error"], Is.EqualTo("BadRequest"));
            Assert.That(noModel["Deployment"], Is.Null);
            Assert.That(method["Method"], Is.EqualTo("GET"));
            Assert.That(method["Error"], Is.EqualTo("BadRequest"));
        });
        AssertNothingSecretIsLogged(_proxy.Logs.Lines);
    }

    [Test]
    public async Task Retries_and_fallbacks_are_logged_with_the_deployment_that_answered()
    {
        const string Deployments =
            "model_list:\n" +
            "  - model_name: primary\n    litellm_params:\n      model: flaky/a\n      name: a\n      behaviour: \"fail:500\"\n    model_info:\n      id: a\n" +
            "  - model_name: secondary\n    litellm_params:\n      model: flaky/b\n      name: b\n    model_info:\n      id: b\n" +
            "litellm_settings:\n  custom_provider_map:\n    - provider: flaky\n      custom_handler: RouterHandlers\n" +
            "router_settings:\n  num_retries: 1\n  fallbacks: [{\"primary\": [\"secondary\"]}]\n" +
            $"general_settings:\n  master_key: {TestProxy.MasterKey}\n";
        await using var proxy = await TestProxy.StartAsync(Deployments, "RouterHandlers");

        using var response = await proxy.PostAsync("/v1/chat/completions", """{"model":"primary","messages":[{"role":"user","content":"default"}]}""");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());

        var entry = await LoggedAsync(proxy, e => e.Path == "/v1/chat/completions", "the request that fell back");

        Assert.Multiple(() =>
        {
            Assert.That(entry["Model"], Is.EqualTo("primary"));
            Assert.That(entry["ModelGroup"], Is.EqualTo("secondary"));
            Assert.That(entry["Deployment"], Is.EqualTo("b"));
            Assert.That(entry["Fallbacks"], Is.EqualTo(1));
            Assert.That(entry["Retries"]!.ToString(), Is.EqualTo(response.Headers.GetValues("x-litellm-attempted-retries").Single()));
            Assert.That(entry["Error"], Is.Null, "the client got an answer");
        });
    }

    [Test]
    public async Task A_client_that_leaves_a_stream_is_logged_as_client_closed()
    {
        await using var proxy = await TestProxy.StartAsync(Yaml.Config(new Model("scripted", "TestHandlers:TestHandlers.Scripted")), "TestHandlers");
        using (var response = await proxy.PostAsync("/v1/chat/completions", """{"model":"scripted","stream":true,"messages":[{"role":"user","content":"slow:100:50"}]}""", completion: HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.That(await reader.ReadLineAsync(), Does.StartWith("data: "));
        }

        var entry = await LoggedAsync(proxy, e => e.Path == "/v1/chat/completions", "the abandoned stream");

        Assert.That(entry.Status, Is.EqualTo(200), "the status was sent with the first chunk");
        Assert.That(entry["Error"], Is.EqualTo("ClientClosed"));
    }

    [Test]
    public async Task Plain_values_with_spaces_or_line_breaks_are_quoted_so_a_line_stays_one_entry()
    {
        using var response = await _proxy.PostAsync("/v1/chat/completions", """{"model":"no such\nmodel status=200","messages":[{"role":"user","content":"hi"}]}""");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));

        var entry = await LoggedAsync(_proxy, e => ((string?)e.Fields.GetValueOrDefault("Model"))?.Contains("no such", StringComparison.Ordinal) == true, "the odd model name");

        Assert.That(entry["Model"], Is.EqualTo("\"no such\\nmodel status=200\""));
        Assert.That(entry.Message, Does.Contain(" model=\"no such\\nmodel status=200\" model_group= ").And.Not.Contain('\n'));
    }

    [Test]
    public async Task The_executable_with_access_log_writes_one_plain_line_per_request()
    {
        await using var host = await HostProcess.StartAsync("--access-log");

        await host.ChatAsync(Secret);
        var line = await host.LineAsync(l => l.Contains("PluginHost.Access", StringComparison.Ordinal) && l.Contains("path=/v1/chat/completions", StringComparison.Ordinal));

        Assert.That(line, Does.Match(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info: PluginHost\.Access\[301\] method=POST path=/v1/chat/completions status=200 duration_ms=[0-9.]+ operation=chat model=hi model_group=hi deployment=\S+ plugin=HiHandler generation=1 stream=False ttfc_ms= prompt_tokens=10 completion_tokens=20 retries=0 fallbacks=0 error=$"));
        AssertNothingSecretIsLogged(await host.StopAsync());
    }

    [Test]
    public async Task The_executable_with_log_format_json_writes_one_JSON_object_per_line_with_typed_fields()
    {
        await using var host = await HostProcess.StartAsync("--access-log", "--log-format", "json");

        await host.ChatAsync(Secret);
        var line = await host.LineAsync(l => l.Contains("\"PluginHost.Access\"", StringComparison.Ordinal) && l.Contains("/v1/chat/completions", StringComparison.Ordinal));

        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        var state = root.GetProperty("State");
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("Category").GetString(), Is.EqualTo("PluginHost.Access"));
            Assert.That(root.GetProperty("LogLevel").GetString(), Is.EqualTo("Information"));
            Assert.That(root.GetProperty("Timestamp").GetString(), Does.Match(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"));
            Assert.That(state.GetProperty("Method").GetString(), Is.EqualTo("POST"));
            Assert.That(state.GetProperty("Path").GetString(), Is.EqualTo("/v1/chat/completions"));
            Assert.That(state.GetProperty("Status").GetInt32(), Is.EqualTo(200));
            Assert.That(state.GetProperty("DurationMs").ValueKind, Is.EqualTo(JsonValueKind.Number));
            Assert.That(state.GetProperty("Model").GetString(), Is.EqualTo("hi"));
            Assert.That(state.GetProperty("Plugin").GetString(), Is.EqualTo("HiHandler"));
            Assert.That(state.GetProperty("Generation").GetInt64(), Is.EqualTo(1));
            Assert.That(state.GetProperty("Stream").ValueKind, Is.EqualTo(JsonValueKind.False));
            Assert.That(state.GetProperty("TtfcMs").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(state.GetProperty("PromptTokens").GetInt32(), Is.EqualTo(10));
            Assert.That(state.GetProperty("CompletionTokens").GetInt32(), Is.EqualTo(20));
            Assert.That(state.GetProperty("Error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });

        var output = await host.StopAsync();
        foreach (var each in output.Where(l => l.StartsWith('{')))
        {
            Assert.DoesNotThrow(() => JsonDocument.Parse(each).Dispose(), each);
        }

        Assert.That(output.Where(l => l.Length > 0), Has.All.StartWith("{"), "every console line is JSON");
        AssertNothingSecretIsLogged(output);
    }

    [Test]
    public async Task Without_access_log_the_executable_writes_no_access_line()
    {
        await using var host = await HostProcess.StartAsync();

        await host.ChatAsync(Secret);
        using var health = await host.Http.GetAsync("/health/readiness");
        var output = await host.StopAsync();

        Assert.That(output, Has.None.Contains("PluginHost.Access"));
        Assert.That(output, Has.Some.Contains("Now listening on"), "the rest of the console log is still written");
    }

    [Test]
    public async Task The_access_log_is_a_category_that_configuration_can_turn_off()
    {
        await using var host = await HostProcess.StartAsync(("Logging__LogLevel__PluginHost.Access", "None"), "--access-log");

        await host.ChatAsync(Secret);
        using var health = await host.Http.GetAsync("/health/readiness");
        var output = await host.StopAsync();

        Assert.That(output, Has.Some.Contains("Now listening on"));
        Assert.That(output, Has.None.Contains("PluginHost.Access"));
    }

    private static void AssertNothingSecretIsLogged(IEnumerable<string> lines)
    {
        var all = string.Join('\n', lines);
        Assert.That(all, Does.Not.Contain(Secret), "prompt text");
        Assert.That(all, Does.Not.Contain("Hi!"), "answer text");
        Assert.That(all, Does.Not.Contain(TestProxy.MasterKey), "the master key");
        Assert.That(all, Does.Not.Contain("sk-wrong-secret-key"), "a refused key");
        Assert.That(all, Does.Not.Contain("Bearer").IgnoreCase, "the Authorization header");
    }

    /// <summary>The built host run as a process (<c>dotnet PluginHost.dll</c>) on a free port, its console read line by line.</summary>
    private sealed partial class HostProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _root;
        private readonly List<string> _lines = [];
        private readonly Task _reading;
        private bool _stopped;

        private HostProcess(Process process, string root)
        {
            _process = process;
            _root = root;
            _reading = Task.WhenAll(ReadAsync(process.StandardOutput), ReadAsync(process.StandardError));
        }

        public HttpClient Http { get; private set; } = null!;

        public static async Task<HostProcess> StartAsync(params string[] args) => await StartAsync(null, args);

        public static async Task<HostProcess> StartAsync((string Name, string Value)? environment, params string[] args)
        {
            var root = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "access-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(Path.Combine(root, "plugins"));
            TestProxy.InstallPlugin(Path.Combine(root, "plugins"), "HiHandler", "HiHandler");
            await File.WriteAllTextAsync(Path.Combine(root, "plugins.yaml"), Yaml.Config(new Model("hi", "HiHandler")));
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in (string[])[typeof(PluginHostApplication).Assembly.Location, "--config", Path.Combine(root, "plugins.yaml"), "--host", "127.0.0.1", "--port", "0", "--no-watch", .. args])
            {
                start.ArgumentList.Add(arg);
            }

            if (environment is { } variable)
            {
                start.Environment[variable.Name] = variable.Value;
            }

            var host = new HostProcess(Process.Start(start)!, root);
            var listening = await host.LineAsync(l => l.Contains("Now listening on", StringComparison.Ordinal));
            var address = AddressPattern().Match(listening).Value;
            host.Http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
            host.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestProxy.MasterKey);
            return host;
        }

        public async Task ChatAsync(string content)
        {
            using var response = await Http.PostAsync("/v1/chat/completions", new StringContent($$"""{"model":"hi","messages":[{"role":"user","content":"{{content}}"}]}"""));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        /// <summary>Waits (at most 30 s) for a console line that <paramref name="matches"/>.</summary>
        public async Task<string> LineAsync(Func<string, bool> matches)
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                lock (_lines)
                {
                    if (_lines.FirstOrDefault(matches) is { } line)
                    {
                        return line;
                    }
                }

                if (_process.HasExited && _reading.IsCompleted)
                {
                    break;
                }

                await Task.Delay(20);
            }

            throw new TimeoutException("No such line. Console:\n" + string.Join('\n', Snapshot()));
        }

        /// <summary>Stops the process and returns everything it wrote.</summary>
        public async Task<IReadOnlyList<string>> StopAsync()
        {
            if (!_stopped)
            {
                _stopped = true;
                Http?.Dispose();
                _process.Kill(entireProcessTree: true);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await _process.WaitForExitAsync(timeout.Token);
                await _reading.WaitAsync(timeout.Token);
            }

            return Snapshot();
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _process.Dispose();
            Directory.Delete(_root, recursive: true);
        }

        private List<string> Snapshot()
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }

        private async Task ReadAsync(StreamReader reader)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (_lines)
                {
                    _lines.Add(line);
                }
            }
        }

        [GeneratedRegex(@"http://127\.0\.0\.1:\d+")]
        private static partial Regex AddressPattern();
    }
}
