using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using PluginHost.Configuration;
using PluginHost.Plugins;
using PluginHost.Tests.Infrastructure;
using PluginHost.Workers;

namespace PluginHost.Tests;

/// <summary>
/// <c>isolation: process</c>: handlers in worker processes. A gallery of hostile handlers (HostileHandlers) kills or
/// wedges its worker while other models, in process and in another worker, serve under load without a failed request;
/// a normal handler answers out of process exactly as in process; errors, streams, cancellation, hot reload and
/// shutdown cross the process boundary.
/// </summary>
public sealed partial class IsolatedHandlerTests
{
    private const string Hostile = "HostileHandlers";

    /// <summary>No retries (a hostile request retried would crash its worker again) and no cooldowns: each request is seen once.</summary>
    private const string OneAttempt = "router_settings:\n  num_retries: 0\n  allowed_fails: 1000\n";

    /// <summary>Gives Yaml.Config's provider <c>pN</c> <c>isolation: process</c> and the given worker keys (<c>key: value</c>, comma separated).</summary>
    private static string Isolate(string yaml, params (int Provider, string Keys)[] isolated)
    {
        foreach (var (provider, keys) in isolated)
        {
            var entry = yaml.IndexOf($"    - provider: p{provider}\n", StringComparison.Ordinal);
            var handlerLine = yaml.IndexOf("      custom_handler:", entry, StringComparison.Ordinal);
            var after = yaml.IndexOf('\n', handlerLine) + 1;
            var lines = new StringBuilder("      isolation: process\n");
            foreach (var key in keys.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                lines.Append($"      {key}\n");
            }

            yaml = yaml.Insert(after, lines.ToString());
        }

        return yaml + OneAttempt;
    }

    /// <summary>
    /// The gallery: <c>hostile</c> isolated with a small heap and short limits, <c>scripted</c> isolated in a worker of
    /// its own, <c>versioned</c> in the proxy.
    /// </summary>
    private static Task<TestProxy> StartGalleryAsync(string hostileKeys = "worker_memory_mb: 64, worker_request_timeout: 2, worker_crash_limit: 3") =>
        TestProxy.StartAsync(
            Isolate(
                Yaml.Config(new Model("hostile", "HostileHandlers:Hostile"), new Model("scripted", "TestHandlers:Scripted"), new Model("versioned", "Versioned:VersionedLlm")),
                (0, hostileKeys),
                (1, "")),
            [(Hostile, Hostile), ("TestHandlers", "TestHandlers"), ("Versioned", "Versioned.V1")]);

    private static PluginWorker WorkerOf(TestProxy proxy, string plugin) =>
        proxy.Runtime.Current.Plugins.Single(p => p.Name == plugin).Worker ?? throw new AssertionException($"{plugin} is not isolated");

    private static Task<HttpResponseMessage> ChatAsync(TestProxy proxy, string model, string content, bool stream = false, CancellationToken cancellationToken = default) =>
        proxy.PostAsync(
            "/v1/chat/completions",
            JsonSerializer.Serialize(new { model, stream, messages = new[] { new { role = "user", content } } }),
            completion: stream ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead,
            cancellationToken: cancellationToken);

    private static async Task<string> ContentOfAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        return JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
    }

    private static Task WaitForReadyWorkerAsync(TestProxy proxy, string plugin, int restarts) =>
        Wait.UntilAsync(() => WorkerOf(proxy, plugin) is { State: WorkerState.Ready } worker && worker.Restarts >= restarts, $"{plugin}'s worker to be ready after {restarts} restart(s)", TimeSpan.FromSeconds(30));

    private static bool Exited(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    [TestCase("failfast")]
    [TestCase("stack-overflow")]
    [TestCase("oom")]
    [TestCase("exit")]
    public async Task A_handler_that_kills_its_worker_fails_only_its_own_request_with_502_and_its_worker_comes_back(string command)
    {
        await using var proxy = await StartGalleryAsync();
        var pid = WorkerOf(proxy, Hostile).Pid;
        await using var load = Load.Start(proxy, "scripted", "versioned");

        using var crashed = await ChatAsync(proxy, "hostile", command);
        var body = await crashed.Content.ReadAsStringAsync();

        Assert.That((int)crashed.StatusCode, Is.EqualTo(502), body);
        Assert.That(body, Does.Contain("Handler 'HostileHandlers:Hostile' crashed: its worker process"));
        await WaitForReadyWorkerAsync(proxy, Hostile, restarts: 1);
        Assert.That(await ContentOfAsync(await ChatAsync(proxy, "hostile", "hello")), Is.EqualTo("ok"));
        Assert.That(WorkerOf(proxy, Hostile).Pid, Is.Not.EqualTo(pid));
        await load.StopAndAssertNoFailuresAsync();
    }

    [Test]
    public async Task A_handler_that_ignores_cancellation_is_cut_off_at_worker_request_timeout_and_its_worker_restarted()
    {
        await using var proxy = await StartGalleryAsync();
        await using var load = Load.Start(proxy, "scripted", "versioned");

        using var spun = await ChatAsync(proxy, "hostile", "spin");
        var body = await spun.Content.ReadAsStringAsync();
        Assert.That((int)spun.StatusCode, Is.EqualTo(504), body);
        Assert.That(body, Does.Contain("Handler 'HostileHandlers:Hostile' did not answer within worker_request_timeout (2 s)"));

        // The worker ends itself a second after the proxy gave up on the spinning call: a call still running then fails too.
        using var bystander = await ChatAsync(proxy, "hostile", "sleep:1900");
        var bystanderBody = await bystander.Content.ReadAsStringAsync();
        Assert.That((int)bystander.StatusCode, Is.EqualTo(502), bystanderBody);
        Assert.That(bystanderBody, Does.Contain("did not stop when cancelled"));

        await WaitForReadyWorkerAsync(proxy, Hostile, restarts: 1);
        Assert.That(await ContentOfAsync(await ChatAsync(proxy, "hostile", "hello")), Is.EqualTo("ok"));
        await load.StopAndAssertNoFailuresAsync();
    }

    [Test]
    public async Task A_handler_that_keeps_crashing_is_held_open_circuit_with_503_and_Retry_After_and_shown_in_plugins_and_readiness()
    {
        await using var proxy = await StartGalleryAsync("worker_crash_limit: 2, worker_circuit_open: 60");
        await using var load = Load.Start(proxy, "scripted", "versioned");

        using (var first = await ChatAsync(proxy, "hostile", "exit"))
        {
            Assert.That((int)first.StatusCode, Is.EqualTo(502));
        }

        await WaitForReadyWorkerAsync(proxy, Hostile, restarts: 1);
        using (var second = await ChatAsync(proxy, "hostile", "exit"))
        {
            Assert.That((int)second.StatusCode, Is.EqualTo(502));
        }

        await Wait.UntilAsync(() => WorkerOf(proxy, Hostile).State == WorkerState.CircuitOpen, "the circuit to open");
        using var refused = await ChatAsync(proxy, "hostile", "hello");
        var body = await refused.Content.ReadAsStringAsync();
        Assert.That((int)refused.StatusCode, Is.EqualTo(503), body);
        Assert.That(refused.Headers.RetryAfter?.Delta, Is.GreaterThan(TimeSpan.FromSeconds(30)));
        Assert.That(body, Does.Contain("Handler 'HostileHandlers:Hostile' is unavailable: its worker process crashed 2 times in a row"));

        var plugins = JsonDocument.Parse(await proxy.Http.GetStringAsync("/plugins")).RootElement.GetProperty("plugins");
        var worker = plugins.EnumerateArray().Single(p => p.GetProperty("name").GetString() == Hostile).GetProperty("worker");
        Assert.That(worker.GetProperty("state").GetString(), Is.EqualTo("open_circuit"));
        Assert.That(worker.GetProperty("crashes_in_a_row").GetInt32(), Is.EqualTo(2));

        var readiness = JsonDocument.Parse(await proxy.Http.GetStringAsync("/health/readiness")).RootElement;
        Assert.That(readiness.GetProperty("status").GetString(), Is.EqualTo("degraded"));
        Assert.That(readiness.GetProperty("unavailable_models").EnumerateArray().Select(e => e.GetString()), Has.Some.StartsWith("hostile: handler 'HostileHandlers:Hostile' is open-circuit"));

        var metrics = PrometheusText.Parse(await proxy.Http.GetStringAsync("/metrics"));
        Assert.That(metrics.Value("pluginhost_worker_crashes_total", ("pluginhost_plugin", Hostile), ("pluginhost_outcome", "restarting")), Is.EqualTo(1));
        Assert.That(metrics.Value("pluginhost_worker_crashes_total", ("pluginhost_plugin", Hostile), ("pluginhost_outcome", "circuit_open")), Is.EqualTo(1));
        await load.StopAndAssertNoFailuresAsync();
    }

    [Test]
    public async Task A_stream_may_outlast_worker_request_timeout_while_it_keeps_sending_and_a_silent_one_is_cut_at_it()
    {
        await using var proxy = await TestProxy.StartAsync(Isolate(Yaml.Config(new Model("scripted", "TestHandlers:Scripted")), (0, "worker_request_timeout: 1")), "TestHandlers");
        var pid = WorkerOf(proxy, "TestHandlers").Pid;

        // Five chunks 400 ms apart: 1.6 s in all, each gap well within the 1 s limit.
        using (var slow = await ChatAsync(proxy, "scripted", "slow:5:400", stream: true))
        {
            using var events = new SseReader(await slow.Content.ReadAsStreamAsync());
            var text = string.Concat((await events.ReadAllAsync()).Select(e => Regex.Match(e, "\"content\":\"([^\"]*)\"").Groups[1].Value));
            Assert.That(text, Is.EqualTo("[0][1][2][3][4]"));
        }

        // A stream that goes silent after its first chunk is cut a second later, its handler cancelled: the worker stays.
        using (var silent = await ChatAsync(proxy, "scripted", "hang-after-first", stream: true))
        {
            using var events = new SseReader(await silent.Content.ReadAsStreamAsync());
            var all = await events.ReadAllAsync();
            Assert.That(all[0], Does.Contain("\"content\":\"first\""));
            Assert.That(all[^1], Does.Contain("worker_request_timeout (1 s)"));
        }

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.That(await ContentOfAsync(await ChatAsync(proxy, "scripted", "hello")), Is.Not.Empty);
        Assert.That(WorkerOf(proxy, "TestHandlers").Pid, Is.EqualTo(pid), "a handler that stopped when cancelled keeps its worker");
    }

    [Test]
    public async Task A_stream_cut_by_its_worker_dying_ends_with_an_error_event_naming_the_handler()
    {
        await using var proxy = await StartGalleryAsync();
        using var response = await ChatAsync(proxy, "hostile", "then:exit", stream: true);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var events = new SseReader(await response.Content.ReadAsStreamAsync());

        var all = await events.ReadAllAsync();

        Assert.That(all[0], Does.Contain("\"content\":\"o\""));
        Assert.That(all[^1], Does.Contain("Handler 'HostileHandlers:Hostile' crashed: its worker process"));
        Assert.That(all, Has.None.Contains("\"content\":\"k\""));
    }

    [Test]
    public async Task An_isolated_assembly_never_runs_in_the_proxy()
    {
        await using var proxy = await StartGalleryAsync();

        Assert.That(await ContentOfAsync(await ChatAsync(proxy, "hostile", "hello")), Is.EqualTo("ok"));
        Assert.That(AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name), Has.No.Member(Hostile));
        Assert.That(AppContext.GetData("HostileHandlers.Loaded"), Is.Null, "its module initializer ran in this process");
        Assert.That(WorkerOf(proxy, Hostile).Pid, Is.Not.Null.And.Not.EqualTo(Environment.ProcessId));
        Assert.That(proxy.Runtime.Current.Plugins.Single(p => p.Name == Hostile).Handlers, Is.EqualTo(new[] { "HostileHandlers.Hostile" }));
    }

    [Test]
    public async Task Shutdown_stops_every_worker_even_one_whose_handler_started_a_foreground_thread()
    {
        var proxy = await StartGalleryAsync();
        int hostile, scripted;
        try
        {
            Assert.That(await ContentOfAsync(await ChatAsync(proxy, "hostile", "foreground-thread")), Is.EqualTo("ok"));
            hostile = WorkerOf(proxy, Hostile).Pid!.Value;
            scripted = WorkerOf(proxy, "TestHandlers").Pid!.Value;
            Assert.That(Exited(hostile), Is.False);
        }
        finally
        {
            await proxy.DisposeAsync();
        }

        Assert.That(Exited(hostile), Is.True, "the hostile worker is still running after shutdown");
        Assert.That(Exited(scripted), Is.True, "the scripted worker is still running after shutdown");
    }

    [Test]
    public async Task A_stream_out_of_process_arrives_chunk_by_chunk_and_a_client_that_leaves_cancels_the_handler()
    {
        var markers = Path.Combine(Path.GetTempPath(), "pluginhost-tests", "markers-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(markers);
        var started = Path.Combine(markers, "started");
        var cancelled = Path.Combine(markers, "cancelled");
        try
        {
            await using var proxy = await TestProxy.StartAsync(
                Isolate(Yaml.Config(new Model("scripted", "TestHandlers:Scripted", ("started_marker", started), ("cancel_marker", cancelled))), (0, "")),
                "TestHandlers");
            using var leave = new CancellationTokenSource();
            using var response = await ChatAsync(proxy, "scripted", "hang-after-first", stream: true, leave.Token);
            using var events = new SseReader(await response.Content.ReadAsStreamAsync(leave.Token));

            // The first chunk arrives while the handler, in its worker, is still waiting: nothing is buffered on the way.
            Assert.That(await events.ReadEventAsync(leave.Token), Does.Contain("first"));
            await Wait.ForFileAsync(started);
            Assert.That(File.Exists(cancelled), Is.False);

            await leave.CancelAsync();
            response.Dispose();
            await Wait.ForFileAsync(cancelled);
        }
        finally
        {
            Directory.Delete(markers, recursive: true);
        }
    }

    [Test]
    public async Task A_handler_error_keeps_its_status_code_and_Retry_After_across_the_boundary()
    {
        await using var proxy = await TestProxy.StartAsync(Isolate(Yaml.Config(new Model("everything", "SurfaceHandlers:Everything")), (0, "")), "SurfaceHandlers");

        using var response = await proxy.PostAsync("/v1/embeddings", """{"model":"everything","input":"rate-limited:7"}""");

        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(429), body);
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(7)));
        Assert.That(JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString(), Is.EqualTo("rate_limit_exceeded"));
    }

    /// <summary>Requests that cover every endpoint, errors and streams, sent to the same handlers in process and out of process.</summary>
    private static readonly (string Path, string Body)[] Requests =
    [
        ("/v1/chat/completions", """{"model":"scripted","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x.example/a.png"}}]}],"temperature":0.5,"top_p":0.9,"max_tokens":7,"seed":3,"stop":["x"],"user":"u","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto","metadata":{"a":1},"vendor_field":[1,"two",null]}"""),
        ("/v1/chat/completions", """{"model":"scripted","messages":[{"role":"user","content":"tool-call"}]}"""),
        ("/v1/chat/completions", """{"model":"scripted","messages":[{"role":"user","content":"choices:3"}]}"""),
        ("/v1/chat/completions", """{"model":"scripted","messages":[{"role":"user","content":"fail:418"}]}"""),
        ("/v1/chat/completions", """{"model":"scripted","messages":[{"role":"user","content":"crash"}]}"""),
        ("/v1/chat/completions", """{"model":"scripted","messages":[{"role":"user","content":"null"}]}"""),
        ("/v1/chat/completions", """{"model":"scripted","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"slow:3:1"}]}"""),
        ("/v1/chat/completions", """{"model":"scripted","stream":true,"messages":[{"role":"user","content":"fail-after-first:503"}]}"""),
        ("/v1/chat/completions", """{"model":"scripted","stream":true,"messages":[{"role":"user","content":"crash-after-first"}]}"""),
        ("/v1/chat/completions", """{"model":"everything","stream":true,"messages":[{"role":"user","content":"hello there"}]}"""),
        ("/v1/completions", """{"model":"scripted","prompt":["one","two"],"max_tokens":5}"""),
        ("/v1/completions", """{"model":"scripted","prompt":"one","stream":true}"""),
        ("/v1/responses", """{"model":"scripted","input":"hi","instructions":"be brief"}"""),
        ("/v1/messages", """{"model":"scripted","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"""),
        ("/v1/embeddings", """{"model":"everything","input":["a b","c"],"dimensions":3,"user":"u"}"""),
        ("/v1/embeddings", """{"model":"everything","input":[[1,2,3]],"encoding_format":"base64"}"""),
        ("/v1/embeddings", """{"model":"everything","input":"rate-limited:7"}"""),
        ("/v1/embeddings", """{"model":"everything","input":"context-window"}"""),
        ("/v1/images/generations", """{"model":"everything","prompt":"a cat","n":2,"size":"256x256","response_format":"b64_json"}"""),
        ("/v1/rerank", """{"model":"everything","query":"q","documents":["a",{"text":"b","title":"t"}],"top_n":1}"""),
        ("/v1/chat/completions", """{"model":"nobody","messages":[{"role":"user","content":"hi"}]}"""),
        // A pass-through handler: its raw answer (the upstream's id and service_tier kept), the ordinary path when it
        // declines, a null there, an error from the pass-through, and the other endpoints on its CompletionAsync.
        ("/v1/chat/completions", """{"model":"passthrough","messages":[{"role":"user","content":"as is"}]}"""),
        ("/v1/chat/completions", """{"model":"passthrough","messages":[{"role":"user","content":"decline"}]}"""),
        ("/v1/chat/completions", """{"model":"passthrough","messages":[{"role":"user","content":"null"}]}"""),
        ("/v1/chat/completions", """{"model":"passthrough","messages":[{"role":"user","content":"fail:429"}]}"""),
        ("/v1/responses", """{"model":"passthrough","input":"via responses"}"""),
    ];

    [Test]
    public async Task A_handler_out_of_process_answers_byte_for_byte_as_in_process()
    {
        var yaml = Yaml.Config(
            new Model("scripted", "TestHandlers:Scripted", ("flag", "true"), ("ratio", "0.5"), ("names", "[a, b]")),
            new Model("everything", "SurfaceHandlers:Everything"),
            new Model("passthrough", "SurfaceHandlers:PassThrough"));
        await using var inProcess = await TestProxy.StartAsync(yaml + OneAttempt, "TestHandlers", "SurfaceHandlers");
        await using var isolated = await TestProxy.StartAsync(Isolate(yaml, (0, ""), (1, ""), (2, "")), "TestHandlers", "SurfaceHandlers");
        Assert.That(isolated.Runtime.Current.Plugins.All(p => p.Worker is not null), Is.True);

        foreach (var (path, body) in Requests)
        {
            var expected = await AnswerAsync(inProcess, path, body);
            var actual = await AnswerAsync(isolated, path, body);
            Assert.That(actual, Is.EqualTo(expected), $"{path} {body}");
        }

        var models = await isolated.Http.GetStringAsync("/v1/models");
        Assert.That(models, Is.EqualTo(await inProcess.Http.GetStringAsync("/v1/models")), "the same supported_endpoints");
    }

    /// <summary>The status, Retry-After and body of an answer, with the ids and timestamps the proxy makes up per answer blanked.</summary>
    private static async Task<string> AnswerAsync(TestProxy proxy, string path, string body)
    {
        using var response = await proxy.PostAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        text = Generated().Replace(text, m => $"\"{m.Groups[1].Value}\":\"_\"");
        return $"{(int)response.StatusCode} retry-after={response.Headers.RetryAfter}\n{text}";
    }

    [GeneratedRegex("\"(id|created|created_at|system_fingerprint|item_id|response_id)\":(\"[^\"]*\"|\\d+)")]
    private static partial Regex Generated();

    [Test]
    public async Task Hot_reload_of_an_isolated_plugin_moves_traffic_to_a_new_worker_without_a_failed_request_and_stops_the_old_one()
    {
        await using var proxy = await TestProxy.StartAsync(Isolate(Yaml.Config(new Model("versioned", "Versioned:VersionedLlm", ("delay_ms", "20"))), (0, "")), [("Versioned", "Versioned.V1")], watch: true);
        var old = WorkerOf(proxy, "Versioned").Pid!.Value;
        await using var load = Load.Start(proxy, "versioned");
        await Wait.UntilAsync(() => load.Successes > 5, "traffic on V1");

        var before = proxy.Runtime.Current.Plugins.Single().Generation;
        File.Copy(Path.Combine(TestPaths.TestPlugin("Versioned.V2"), "Versioned.dll"), Path.Combine(proxy.PluginsDirectory, "Versioned", "Versioned.dll"), overwrite: true);
        await proxy.WaitForSnapshotAsync(s => s.Plugins.Single().Generation != before, TimeSpan.FromSeconds(60));
        var successes = load.Successes;
        await Wait.UntilAsync(() => load.Successes > successes + 5, "traffic on V2");

        await load.StopAndAssertNoFailuresAsync();
        Assert.That(await ContentOfAsync(await ChatAsync(proxy, "versioned", "hi")), Does.StartWith("v2"));
        Assert.That(WorkerOf(proxy, "Versioned").Pid, Is.Not.EqualTo(old));
        await Wait.UntilAsync(() => Exited(old), "the V1 worker to exit after draining", TimeSpan.FromSeconds(30));
        Assert.That(proxy.Runtime.Retired.Single(p => p.Name == "Versioned").Worker!.State, Is.EqualTo(WorkerState.Stopped));
    }

    [Test]
    public async Task Changing_isolation_in_the_configuration_moves_an_unchanged_plugin_into_a_worker_and_back()
    {
        var inProcess = Yaml.Config(new Model("versioned", "Versioned:VersionedLlm")) + OneAttempt;
        await using var proxy = await TestProxy.StartAsync(inProcess, [("Versioned", "Versioned.V1")]);
        var loaded = proxy.Runtime.Current.Plugins.Single();
        Assert.That(loaded.Worker, Is.Null);

        await File.WriteAllTextAsync(proxy.ConfigPath, Isolate(Yaml.Config(new Model("versioned", "Versioned:VersionedLlm")), (0, "")));
        await proxy.ReloadAsync();

        var isolated = proxy.Runtime.Current.Plugins.Single();
        Assert.That(isolated.Worker, Is.Not.Null);
        Assert.That(isolated.Sha256, Is.EqualTo(loaded.Sha256));
        Assert.That(await ContentOfAsync(await ChatAsync(proxy, "versioned", "hi")), Does.StartWith("v1"));
        Assert.That(proxy.Runtime.Retired, Has.Member(loaded));
        var pid = isolated.Worker!.Pid!.Value;

        await File.WriteAllTextAsync(proxy.ConfigPath, inProcess);
        await proxy.ReloadAsync();

        Assert.That(proxy.Runtime.Current.Plugins.Single().Worker, Is.Null);
        Assert.That(await ContentOfAsync(await ChatAsync(proxy, "versioned", "hi")), Does.StartWith("v1"));
        await Wait.UntilAsync(() => isolated.Worker.State == WorkerState.Stopped && Exited(pid), "the worker to stop once its version drained", TimeSpan.FromSeconds(30));
    }

    [Test]
    public async Task With_trust_enforced_a_worker_runs_the_dependency_bytes_the_proxy_checked_not_a_file_changed_after()
    {
        static string Sha256Of(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
        var build = TestPaths.TestPlugin("LazyJson");
        var masterKey = $"  master_key: {TestProxy.MasterKey}\n";
        var yaml = Isolate(Yaml.Config(new Model("m", "LazyJson")), (0, ""))
            .Replace(masterKey, masterKey + $"  allowed_plugin_sha256:\n    - {Sha256Of(Path.Combine(build, "LazyJson.dll"))}\n    - {Sha256Of(Path.Combine(build, "Newtonsoft.Json.dll"))}\n", StringComparison.Ordinal);
        await using var proxy = await TestProxy.StartAsync(yaml, "LazyJson");
        var json = Path.Combine(proxy.PluginsDirectory, "LazyJson", "Newtonsoft.Json.dll");
        Assert.That(WorkerOf(proxy, "LazyJson").State, Is.EqualTo(WorkerState.Ready));

        // LazyJson needs Newtonsoft.Json only on its first request: by then the file holds another build of it.
        await File.WriteAllBytesAsync(json, await File.ReadAllBytesAsync(Path.Combine(TestPaths.TestPlugin("DependsOnJson12"), "Newtonsoft.Json.dll")));

        Assert.That(await ContentOfAsync(await ChatAsync(proxy, "m", "hi")), Does.Contain("13.0.0.0"), "the checked 13.0 bytes run in the worker, not the 12.0 file put there after the check");
    }

    [Test]
    public void An_unknown_isolation_fails_startup_naming_the_key()
    {
        var yaml = Yaml.Config(new Model("x", "TestHandlers:Scripted")).Replace("custom_handler: TestHandlers:Scripted\n", "custom_handler: TestHandlers:Scripted\n      isolation: sandbox\n", StringComparison.Ordinal);

        var error = Assert.ThrowsAsync<ConfigException>(() => TestProxy.StartAsync(yaml, "TestHandlers"));

        Assert.That(error.Message, Does.Contain("litellm_settings.custom_provider_map[0].isolation 'sandbox' must be in_process (the default) or process"));
    }

    [Test]
    public void A_worker_key_without_process_isolation_fails_startup_naming_the_key()
    {
        var yaml = Yaml.Config(new Model("x", "TestHandlers:Scripted")).Replace("custom_handler: TestHandlers:Scripted\n", "custom_handler: TestHandlers:Scripted\n      worker_memory_mb: 64\n", StringComparison.Ordinal);

        var error = Assert.ThrowsAsync<ConfigException>(() => TestProxy.StartAsync(yaml, "TestHandlers"));

        Assert.That(error.Message, Does.Contain("custom_provider_map[0].worker_memory_mb applies to a worker process; it needs isolation: process"));
    }

    [Test]
    public async Task A_worker_refuses_an_assembly_whose_SHA_256_is_not_the_one_the_proxy_validated()
    {
        var socket = Path.Combine(Path.GetTempPath(), $"pluginhost-test-{Guid.NewGuid():N}.sock");
        using var process = StartWorker(Path.Combine(TestPaths.TestPlugin(Hostile), "HostileHandlers.dll"), new string('0', 64), socket);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);

        Assert.That(process.ExitCode, Is.EqualTo(WorkerProgram.Refused));
        Assert.That(await stderr, Does.Contain("is not the assembly the proxy validated"));
        Assert.That(File.Exists(socket), Is.False);
    }

    [Test]
    public async Task A_worker_exits_by_itself_when_its_proxy_goes_away_and_closes_its_standard_input()
    {
        var dll = Path.Combine(TestPaths.TestPlugin(Hostile), "HostileHandlers.dll");
        var socket = Path.Combine(Path.GetTempPath(), $"pluginhost-test-{Guid.NewGuid():N}.sock");
        using var process = StartWorker(dll, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(dll))), socket);
        try
        {
            await Wait.UntilAsync(() => File.Exists(socket), "the worker to listen", TimeSpan.FromSeconds(30));

            // What the OS does to the pipe when the proxy dies, even by SIGKILL.
            process.StandardInput.Close();

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(timeout.Token);
            Assert.That(process.ExitCode, Is.Zero);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static Process StartWorker(string dll, string sha256, string socket)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } muxer ? muxer : "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        foreach (var argument in (string[])[typeof(PluginHostApplication).Assembly.Location, "worker", "--plugin", dll, "--sha256", sha256, "--socket", socket, "--request-timeout", "5", "--constructor-timeout", "5"])
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start)!;
    }

    /// <summary>Requests in a loop on some models, each expected to succeed, until stopped; failures are kept with why.</summary>
    private sealed class Load : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<string> _failures = [];
        private Task _running = Task.CompletedTask;
        private int _successes;

        public int Successes => Volatile.Read(ref _successes);

        public static Load Start(TestProxy proxy, params string[] models)
        {
            var load = new Load();
            load._running = Task.WhenAll(models.SelectMany(model => Enumerable.Range(0, 2).Select(_ => Task.Run(() => load.RunAsync(proxy, model)))));
            return load;
        }

        private async Task RunAsync(TestProxy proxy, string model)
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await ChatAsync(proxy, model, "hi");
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref _successes);
                        continue;
                    }

                    var failure = $"{model}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                    lock (_failures)
                    {
                        _failures.Add(failure);
                    }
                }
                catch (Exception ex)
                {
                    lock (_failures)
                    {
                        _failures.Add($"{model}: {ex.GetType().Name}: {ex.Message}");
                    }
                }
            }
        }

        public async Task StopAndAssertNoFailuresAsync()
        {
            await _stop.CancelAsync();
            await _running;
            Assert.That(_failures, Is.Empty);
            Assert.That(Successes, Is.GreaterThan(0));
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _running;
            _stop.Dispose();
        }
    }
}
