using System.Text.Json;
using PluginHost.Configuration;
using PluginHost.OpenAi;
using PluginHost.Sdk;
using static PluginHost.Tests.Unit.UnitJson;

namespace PluginHost.Tests.Unit;

/// <summary><see cref="EmbeddingsEndpoint"/>'s reading of an <c>/embeddings</c> body and writing of OpenAI's list, without a host.</summary>
public sealed class EmbeddingsEndpointTests
{
    private static EmbeddingRequest Read(string json, RequestLimits? limits = null) =>
        EmbeddingsEndpoint.Read(Parse(json), Target, limits ?? new RequestLimits());

    private static EmbeddingRequest RequestFor(string? encodingFormat) =>
        new() { Model = "provider-model", RequestedModel = "asked-model", Input = [EmbeddingInput.FromText("x")], EncodingFormat = encodingFormat };

    private static string Write(EmbeddingResponse response, string? encodingFormat = null) =>
        UnitJson.Write(writer => EmbeddingsEndpoint.Write(writer, RequestFor(encodingFormat), response));

    private static EmbeddingResponse Vectors(params float[][] vectors) => EmbeddingResponse.FromVectors(vectors);

    [Test]
    public void Every_field_lands_in_the_request()
    {
        var request = Read("""{"model":"asked-model","input":["a","b"],"dimensions":8,"encoding_format":"base64","user":"user-7","x_extra":[1]}""");

        Assert.Multiple(() =>
        {
            Assert.That(request.Input, Is.EqualTo(new[] { EmbeddingInput.FromText("a"), EmbeddingInput.FromText("b") }));
            Assert.That(request.Dimensions, Is.EqualTo(8));
            Assert.That(request.EncodingFormat, Is.EqualTo("base64"));
            Assert.That(request.User, Is.EqualTo("user-7"));
            Assert.That(Raw(request.AdditionalProperties), Is.EqualTo(new Dictionary<string, string> { ["x_extra"] = "[1]" }));
        });
    }

    [Test]
    public void Absent_fields_take_their_defaults()
    {
        var request = Read("""{"model":"asked-model","input":"a"}""");

        Assert.Multiple(() =>
        {
            Assert.That(request.Dimensions, Is.Null);
            Assert.That(request.EncodingFormat, Is.Null);
            Assert.That(request.User, Is.Null);
            Assert.That(request.AdditionalProperties, Is.Empty);
        });
    }

    [TestCase("dimensions")]
    [TestCase("encoding_format")]
    [TestCase("user")]
    public void An_optional_field_sent_as_null_reads_as_absent(string field)
    {
        var request = Read($$"""{"model":"m","input":"a","{{field}}":null}""");

        Assert.That(request, Is.EqualTo(Read("""{"model":"m","input":"a"}""") with { Input = request.Input }));
    }

    // Each shape of input, and what the handler receives (texts, or token lists shown as [1, 2]).
    [TestCase("\"hello\"", new[] { "hello" })]
    [TestCase("[\"a\",\"b\",\"c\"]", new[] { "a", "b", "c" })]
    [TestCase("[0,1,2]", new[] { "[0, 1, 2]" }, Description = "an array of token ids is one input")]
    [TestCase("[[1,2],[3]]", new[] { "[1, 2]", "[3]" })]
    [TestCase("[[2147483647]]", new[] { "[2147483647]" })]
    public void Every_shape_of_input_reaches_the_handler_as_a_list(string input, string[] expected)
    {
        var request = Read($$"""{"model":"m","input":{{input}}}""", SmallLimits);

        Assert.That(request.Input.Select(i => i.ToString()), Is.EqualTo(expected));
    }

    [TestCase("\"float\"", "float")]
    [TestCase("\"base64\"", "base64")]
    public void The_encoding_format_is_kept(string value, string expected)
    {
        Assert.That(Read($$"""{"model":"m","input":"a","encoding_format":{{value}}}""").EncodingFormat, Is.EqualTo(expected));
    }

    [TestCase(3)]
    [TestCase(1)]
    public void Up_to_the_limits_is_accepted(int count)
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => Read($$"""{"model":"m","input":[{{string.Join(",", Enumerable.Repeat("\"x\"", count))}}]}""", SmallLimits), Throws.Nothing);
            Assert.That(() => Read($$"""{"model":"m","input":[{{string.Join(",", Enumerable.Repeat("[1]", count))}}]}""", SmallLimits), Throws.Nothing);
            Assert.That(() => Read("""{"model":"m","input":"a","dimensions":16}""", SmallLimits), Throws.Nothing);
        });
    }

    private static readonly object[][] BadBodies =
    [
        ["""{"model":"m"}""", "input", "missing_required_parameter", "Missing required parameter: 'input'."],
        ["""{"model":"m","input":null}""", "input", "invalid_type", "but got null"],
        ["""{"model":"m","input":42}""", "input", "invalid_type", "a string, an array of strings, an array of integers, or an array of integer arrays, but got a number"],
        ["""{"model":"m","input":{"text":"a"}}""", "input", "invalid_type", "but got an object"],
        ["""{"model":"m","input":true}""", "input", "invalid_type", "but got a boolean"],
        ["""{"model":"m","input":""}""", "input", "empty_string", "empty string"],
        ["""{"model":"m","input":[]}""", "input", "empty_array", "empty array"],
        ["""{"model":"m","input":["a",""]}""", "input[1]", "empty_string", "Invalid 'input[1]': empty string"],
        ["""{"model":"m","input":["a",1]}""", "input[1]", "invalid_type", "expected a string, but got a number"],
        ["""{"model":"m","input":["a",null]}""", "input[1]", "invalid_type", "expected a string, but got null"],
        ["""{"model":"m","input":["a",["b"]]}""", "input[1]", "invalid_type", "expected a string, but got an array"],
        ["""{"model":"m","input":[[1],"a"]}""", "input[1]", "invalid_type", "expected an array of integers, but got a string"],
        ["""{"model":"m","input":[[1],[]]}""", "input[1]", "empty_array", "Invalid 'input[1]': empty array"],
        ["""{"model":"m","input":[[1],[-2]]}""", "input[1][0]", "invalid_type", "a non-negative integer token id"],
        ["""{"model":"m","input":[[1],[1.5]]}""", "input[1][0]", "invalid_type", "a non-negative integer token id"],
        ["""{"model":"m","input":[[1],[2,"a"]]}""", "input[1][1]", "invalid_type", "a non-negative integer token id"],
        ["""{"model":"m","input":[[2147483648]]}""", "input[0][0]", "invalid_type", "a non-negative integer token id"],
        ["""{"model":"m","input":[1,-1]}""", "input[1]", "invalid_type", "a non-negative integer token id, but got a number"],
        ["""{"model":"m","input":[1,"a"]}""", "input[1]", "invalid_type", "but got a string"],
        ["""{"model":"m","input":[null]}""", "input[0]", "invalid_type", "an array of integer arrays, but got null"],
        ["""{"model":"m","input":[{}]}""", "input[0]", "invalid_type", "but got an object"],
        ["""{"model":"m","input":[true,"a"]}""", "input[0]", "invalid_type", "but got a boolean"],
        ["""{"model":"m","input":"a","dimensions":0}""", "dimensions", "invalid_value", "at least 1"],
        ["""{"model":"m","input":"a","dimensions":-8}""", "dimensions", "invalid_value", "at least 1"],
        ["""{"model":"m","input":"a","dimensions":"8"}""", "dimensions", "invalid_type", "expected an integer"],
        ["""{"model":"m","input":"a","dimensions":8.5}""", "dimensions", "invalid_type", "expected an integer"],
        ["""{"model":"m","input":"a","dimensions":17}""", "dimensions", "invalid_value", "17 is more than this proxy allows (16; general_settings.max_embedding_dimensions)"],
        ["""{"model":"m","input":"a","dimensions":2147483647}""", "dimensions", "invalid_value", "general_settings.max_embedding_dimensions"],
        ["""{"model":"m","input":"a","encoding_format":"hex"}""", "encoding_format", "invalid_value", "Invalid value: 'hex'. Supported values are: 'float', 'base64'."],
        ["""{"model":"m","input":"a","encoding_format":"FLOAT"}""", "encoding_format", "invalid_value", "Invalid value: 'FLOAT'."],
        ["""{"model":"m","input":"a","encoding_format":1}""", "encoding_format", "invalid_type", "expected a string"],
        ["""{"model":"m","input":"a","user":5}""", "user", "invalid_type", "expected a string"],
        ["""{"model":"m","input":["a","b","c","d"]}""", "input", "invalid_value", "4 items is more than this proxy allows (3; general_settings.max_embedding_inputs)"],
        ["""{"model":"m","input":[[1],[2],[3],[4]]}""", "input", "invalid_value", "(3; general_settings.max_embedding_inputs)"],
    ];

    [TestCaseSource(nameof(BadBodies))]
    public void A_bad_body_is_a_400_naming_the_parameter(string body, string param, string code, string message)
    {
        var actual = AssertRefused(() => Read(body, SmallLimits), param, code);

        Assert.That(actual, Does.Contain(message));
    }

    [Test]
    public void One_token_array_input_counts_as_one_input_against_the_limit()
    {
        var request = Read("""{"model":"m","input":[1,2,3,4]}""", SmallLimits);

        Assert.That(request.Input, Has.Count.EqualTo(1));
    }

    [Test]
    public void Float_vectors_are_written_in_OpenAIs_list_shape()
    {
        var json = Write(new EmbeddingResponse
        {
            Data = [new EmbeddingVector { Index = 0, Vector = new[] { 0.5f, -1f } }, new EmbeddingVector { Index = 1, Vector = new[] { 2.25f } }],
            Usage = new Usage(5, 0),
            AdditionalProperties = Fields("""{"x_extra":true}"""),
        });

        AssertJson(json, """
            {"object":"list",
             "data":[{"object":"embedding","index":0,"embedding":[0.5,-1]},{"object":"embedding","index":1,"embedding":[2.25]}],
             "model":"asked-model","usage":{"prompt_tokens":5,"total_tokens":5},"x_extra":true}
            """);
    }

    [Test]
    public void Floats_round_trip_exactly()
    {
        float[] vector = [0.1f, 1f / 3, -0f, float.Epsilon, float.MaxValue, float.MinValue, 1e-30f, 123456.79f];

        var written = Parse(Write(Vectors(vector))).GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle());

        Assert.That(written, Is.EqualTo(vector));
    }

    [Test]
    public void Base64_is_the_little_endian_float32_bytes_of_the_vector()
    {
        float[] vector = [1f, -2.5f, 0.1f];

        var item = Parse(Write(Vectors(vector), "base64")).GetProperty("data")[0];
        var bytes = item.GetProperty("embedding").GetBytesFromBase64();

        Assert.Multiple(() =>
        {
            Assert.That(Write(Vectors([1f]), "base64"), Does.Contain("\"embedding\":\"AACAPw==\""), "1.0f is 00 00 80 3F");
            Assert.That(Enumerable.Range(0, bytes.Length / 4).Select(i => System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4))), Is.EqualTo(vector));
            Assert.That(item.GetProperty("object").GetString(), Is.EqualTo("embedding"));
        });
    }

    [TestCase(null)]
    [TestCase("float")]
    public void Without_base64_the_vector_is_an_array_of_numbers(string? encodingFormat)
    {
        var item = Parse(Write(Vectors([1f]), encodingFormat)).GetProperty("data")[0];

        Assert.That(item.GetProperty("embedding").ValueKind, Is.EqualTo(JsonValueKind.Array));
    }

    [Test]
    public void What_the_handler_leaves_unset_the_host_fills_in_and_what_it_sets_is_kept()
    {
        var defaults = Parse(Write(new EmbeddingResponse { Data = [new EmbeddingVector { Vector = ReadOnlyMemory<float>.Empty }] }));
        var set = Parse(Write(new EmbeddingResponse { Data = [], Model = "handler-model", Usage = new Usage(3, 4) }));

        Assert.Multiple(() =>
        {
            Assert.That(defaults.GetProperty("model").GetString(), Is.EqualTo("asked-model"));
            Assert.That(defaults.GetProperty("usage").GetRawText(), Is.EqualTo("""{"prompt_tokens":0,"total_tokens":0}"""));
            Assert.That(defaults.GetProperty("data")[0].GetProperty("embedding").GetArrayLength(), Is.Zero);
            Assert.That(set.GetProperty("model").GetString(), Is.EqualTo("handler-model"));
            Assert.That(set.GetProperty("usage").GetRawText(), Is.EqualTo("""{"prompt_tokens":3,"total_tokens":7}"""), "completion tokens are not written; the total is the handler's");
            Assert.That(set.GetProperty("data").GetArrayLength(), Is.Zero);
        });
    }

    [TestCase(new[] { 0 }, new[] { 0 })]
    [TestCase(new[] { 0, 0, 0 }, new[] { 0, 1, 2 })]
    [TestCase(new[] { 0, 1, 2 }, new[] { 0, 1, 2 })]
    [TestCase(new[] { 2, 0, 1 }, new[] { 2, 0, 1 })]
    [TestCase(new[] { 3, 4 }, new[] { 3, 4 })]
    public void Vectors_are_numbered_by_position_when_all_are_0_else_as_the_handler_numbered_them(int[] given, int[] written)
    {
        var json = Write(new EmbeddingResponse { Data = [.. given.Select(i => new EmbeddingVector { Index = i, Vector = new[] { 1f } })] });

        Assert.That(Parse(json).GetProperty("data").EnumerateArray().Select(d => d.GetProperty("index").GetInt32()), Is.EqualTo(written));
    }

    private static readonly object?[][] MalformedAnswers =
    [
        [new EmbeddingResponse { Data = null! }, null, "EmbeddingResponse.Data is null."],
        [new EmbeddingResponse { Data = [new EmbeddingVector { Vector = new[] { 1f } }, null!] }, null, "EmbeddingResponse.Data[1] is null."],
        [new EmbeddingResponse { Data = [new EmbeddingVector { Vector = new[] { 1f } }, null!] }, "base64", "EmbeddingResponse.Data[1] is null."],
        [Vectors([1f], [0.5f, float.NaN]), null, "embedding 1 contains NaN, which JSON cannot carry."],
        [Vectors([float.PositiveInfinity]), null, "which JSON cannot carry"],
        [Vectors([float.NegativeInfinity]), "float", "which JSON cannot carry"],
    ];

    [TestCaseSource(nameof(MalformedAnswers))]
    public void A_malformed_answer_throws_naming_what_is_wrong(EmbeddingResponse response, string? encodingFormat, string message)
    {
        Assert.That(AssertMalformed(writer => EmbeddingsEndpoint.Write(writer, RequestFor(encodingFormat), response)), Does.Contain(message));
    }

    [Test]
    public void A_non_finite_vector_is_malformed_in_base64_too()
    {
        AssertMalformed(writer => EmbeddingsEndpoint.Write(writer, RequestFor("base64"), Vectors([float.NaN])));
    }
}
