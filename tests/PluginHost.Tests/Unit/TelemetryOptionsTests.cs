using Microsoft.Extensions.Configuration;
using PluginHost.Telemetry;

namespace PluginHost.Tests.Unit;

/// <summary><see cref="TelemetryOptions.From"/>: what the OTEL_ and PLUGINHOST_ variables turn on.</summary>
public sealed class TelemetryOptionsTests
{
    private static TelemetryOptions From(params (string Key, string Value)[] variables) =>
        TelemetryOptions.From(new ConfigurationBuilder().AddInMemoryCollection(variables.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build());

    [Test]
    public void With_no_variables_metrics_stay_in_process_and_nothing_traces()
    {
        var options = From();

        Assert.Multiple(() =>
        {
            Assert.That(options.Disabled, Is.False);
            Assert.That(options.Tracing, Is.False);
            Assert.That(options.OtlpTraces, Is.False);
            Assert.That(options.OtlpMetrics, Is.False);
            Assert.That(options.Sources, Is.EqualTo(new[] { "*" }));
        });
    }

    [Test]
    public void The_common_endpoint_exports_both_signals()
    {
        var options = From(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"));

        Assert.That((options.Tracing, options.OtlpTraces, options.OtlpMetrics), Is.EqualTo((true, true, true)));
    }

    [Test]
    public void A_signal_endpoint_exports_that_signal_only()
    {
        var traces = From(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces"));
        var metrics = From(("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://collector:4318/v1/metrics"));

        Assert.Multiple(() =>
        {
            Assert.That((traces.Tracing, traces.OtlpTraces, traces.OtlpMetrics), Is.EqualTo((true, true, false)));
            Assert.That((metrics.Tracing, metrics.OtlpTraces, metrics.OtlpMetrics), Is.EqualTo((false, false, true)));
        });
    }

    [TestCase("1")]
    [TestCase("true")]
    [TestCase("True")]
    public void PLUGINHOST_TRACING_traces_without_exporting(string value)
    {
        var options = From(("PLUGINHOST_TRACING", value));

        Assert.That((options.Tracing, options.OtlpTraces), Is.EqualTo((true, false)));
    }

    [TestCase("")]
    [TestCase("0")]
    [TestCase("false")]
    public void PLUGINHOST_TRACING_off_is_off(string value)
    {
        Assert.That(From(("PLUGINHOST_TRACING", value)).Tracing, Is.False);
    }

    [Test]
    public void OTEL_SDK_DISABLED_turns_everything_off_even_with_an_endpoint()
    {
        var options = From(("OTEL_SDK_DISABLED", "true"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"), ("PLUGINHOST_TRACING", "1"));

        Assert.That((options.Disabled, options.Tracing, options.OtlpTraces, options.OtlpMetrics), Is.EqualTo((true, false, false, false)));
    }

    [Test]
    public void PLUGINHOST_TRACE_SOURCES_names_the_sources_traced()
    {
        Assert.That(From(("PLUGINHOST_TRACE_SOURCES", " MyHandler , Vendor.* ,")).Sources, Is.EqualTo(new[] { "MyHandler", "Vendor.*" }));
    }
}
