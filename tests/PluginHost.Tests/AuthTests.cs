using System.ClientModel;
using System.Net;
using System.Reflection;
using System.Reflection.Emit;
using System.Security.Cryptography;
using OpenAI.Chat;
using PluginHost.OpenAi;
using PluginHost.Tests.Infrastructure;

namespace PluginHost.Tests;

/// <summary>
/// With a <c>master_key</c>, every route but the health probes needs <c>Authorization: Bearer &lt;key&gt;</c>;
/// a missing or wrong key is a 401 with OpenAI's error body.
/// </summary>
public sealed class AuthTests
{
    private const string ChatBody = """{"model":"hi","messages":[{"role":"user","content":"hello"}]}""";

    private TestProxy _proxy = null!;
    private HttpClient _anonymous = null!;

    [OneTimeSetUp]
    public async Task StartProxy()
    {
        _proxy = await TestProxy.StartAsync(Yaml.Config(new Model("hi", "HiHandler")), "HiHandler");
        _anonymous = new HttpClient { BaseAddress = _proxy.BaseAddress };
    }

    [OneTimeTearDown]
    public async Task StopProxy()
    {
        _anonymous.Dispose();
        await _proxy.DisposeAsync();
    }

    [TestCase("/chat/completions")]
    [TestCase("/v1/chat/completions")]
    public async Task A_request_without_a_key_is_a_401_that_says_how_to_send_one(string path)
    {
        using var response = await _anonymous.PostAsync(path, new StringContent(ChatBody));

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.Unauthorized);
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("Authorization: Bearer"));
            Assert.That(error.GetProperty("code").GetString(), Is.EqualTo("invalid_api_key"));
            Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo("Bearer"));
        });
    }

    [TestCase("Bearer sk-123")]
    [TestCase("Bearer sk-12345")]
    [TestCase("Bearer SK-1234")]
    [TestCase("Bearer ")]
    [TestCase("sk-1234")]
    [TestCase("Basic sk-1234")]
    public async Task A_request_with_a_wrong_key_is_a_401(string authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(ChatBody) };
        request.Headers.TryAddWithoutValidation("Authorization", authorization);

        using var response = await _anonymous.SendAsync(request);

        var error = await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.Unauthorized);
        Assert.That(error.GetProperty("message").GetString(), Does.StartWith("Incorrect API key provided"));
    }

    [TestCase("Bearer sk-1234")]
    [TestCase("bearer sk-1234")]
    [TestCase("Bearer  sk-1234 ")]
    public async Task A_request_with_the_master_key_is_served(string authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(ChatBody) };
        request.Headers.TryAddWithoutValidation("Authorization", authorization);

        using var response = await _anonymous.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    [Test]
    public void The_OpenAI_SDK_with_a_wrong_key_gets_a_401_with_the_proxys_message()
    {
        var error = Assert.ThrowsAsync<ClientResultException>(() => _proxy.Chat("hi", key: "sk-wrong").CompleteChatAsync([new UserChatMessage("hello")]));

        Assert.That(error.Status, Is.EqualTo(401));
        Assert.That(error.Message, Does.Contain("Incorrect API key provided"));
    }

    [Test]
    public async Task A_streaming_request_without_a_key_is_a_plain_401_not_a_stream()
    {
        using var response = await _anonymous.PostAsync("/v1/chat/completions", new StringContent("""{"model":"hi","stream":true,"messages":[{"role":"user","content":"hello"}]}"""));

        await OpenAiErrors.AssertErrorAsync(response, HttpStatusCode.Unauthorized);
    }

    [TestCase("/health/liveliness")]
    [TestCase("/health/liveness")]
    [TestCase("/health/readiness")]
    public async Task The_health_probes_need_no_key(string path)
    {
        using var response = await _anonymous.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [TestCase("/models")]
    [TestCase("/v1/models")]
    [TestCase("/v1/models/hi")]
    [TestCase("/plugins")]
    public async Task Every_other_route_needs_the_key(string path)
    {
        using var anonymous = await _anonymous.GetAsync(path);
        using var authorized = await _proxy.Http.GetAsync(path);

        await OpenAiErrors.AssertErrorAsync(anonymous, HttpStatusCode.Unauthorized);
        Assert.That(authorized.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Without_a_master_key_every_route_is_open()
    {
        var config = Yaml.Config(new Model("hi", "HiHandler")).Replace($"general_settings:\n  master_key: {TestProxy.MasterKey}\n", "", StringComparison.Ordinal);
        await using var proxy = await TestProxy.StartAsync(config, "HiHandler");
        using var client = new HttpClient { BaseAddress = proxy.BaseAddress };

        using var chat = await client.PostAsync("/v1/chat/completions", new StringContent(ChatBody));
        using var models = await client.GetAsync("/v1/models");

        Assert.That(chat.StatusCode, Is.EqualTo(HttpStatusCode.OK), await chat.Content.ReadAsStringAsync());
        Assert.That(models.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public void The_key_is_compared_in_constant_time()
    {
        var called = CalledMethods(typeof(ApiKeyMiddleware));

        Assert.That(
            called.Select(m => $"{m.DeclaringType?.FullName}.{m.Name}"),
            Has.Member($"{typeof(CryptographicOperations).FullName}.{nameof(CryptographicOperations.FixedTimeEquals)}"),
            "ApiKeyMiddleware compares keys with CryptographicOperations.FixedTimeEquals");
    }

    /// <summary>Every method the IL of <paramref name="type"/>'s own methods calls (call, callvirt, newobj).</summary>
    private static List<MethodBase> CalledMethods(Type type)
    {
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var called = new List<MethodBase>();
        foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            var il = method.GetMethodBody()?.GetILAsByteArray() ?? [];
            for (var i = 0; i + 4 < il.Length; i++)
            {
                if (il[i] != OpCodes.Call.Value && il[i] != OpCodes.Callvirt.Value && il[i] != OpCodes.Newobj.Value)
                {
                    continue;
                }

                try
                {
                    if (type.Module.ResolveMethod(BitConverter.ToInt32(il, i + 1)) is { } target)
                    {
                        called.Add(target);
                    }
                }
                catch (ArgumentException)
                {
                    // The byte was an operand, not an opcode.
                }
            }
        }

        return called;
    }
}
