using System.Buffers;
using PluginHost.Routing;
using PluginHost.Sdk;

namespace PluginHost.OpenAi;

/// <summary>
/// The one path every handler endpoint runs through: body (size limit, UTF-8, JSON or form) → model → lease on
/// the model's handler → capability → request → deadline → handler → answer written to a buffer → sent. An
/// endpoint supplies only its own reading, handler method and writing (<see cref="IHandlerEndpoint{TRequest, TResponse}"/>).
/// Nothing is sent until the whole answer is serialized, so a malformed answer is always a clean 500 naming the
/// handler; a stream goes through the one SSE path instead.
/// </summary>
internal static class RequestPipeline
{
    /// <summary>The request delegate serving <typeparamref name="TEndpoint"/> from <paramref name="runtime"/>'s snapshots.</summary>
    public static RequestDelegate For<TEndpoint, TRequest, TResponse>(ProxyRuntime runtime)
        where TEndpoint : IHandlerEndpoint<TRequest, TResponse>
        where TRequest : LlmRequest
        where TResponse : class =>
        context => RunAsync<TEndpoint, TRequest, TResponse>(context, runtime);

    private static async Task RunAsync<TEndpoint, TRequest, TResponse>(HttpContext context, ProxyRuntime runtime)
        where TEndpoint : IHandlerEndpoint<TRequest, TResponse>
        where TRequest : LlmRequest
        where TResponse : class
    {
        var config = runtime.Current.Config;
        using var input = await RequestInput.ReadAsync(context, TEndpoint.TakesForm, config.MaxRequestBytes);
        using var lease = Lease(runtime, input.Model);
        var binding = lease.Binding!;
        if ((binding.Handler.Capabilities & TEndpoint.Capability) == 0)
        {
            // LiteLLM's answer for a method the handler does not implement, without entering the handler.
            throw new OpenAiException(500, "Not implemented yet!");
        }

        var deployment = lease.Route.Deployment;
        var target = new RequestTarget(input.Model, deployment);
        TRequest request;
        if (TEndpoint.TakesForm)
        {
            request = await TEndpoint.ReadFormAsync(input.Form!, target, config.Limits, context.RequestAborted);
        }
        else
        {
            try
            {
                request = TEndpoint.Read(input.Json, target, config.Limits);
            }
            catch (InvalidOperationException ex)
            {
                throw RequestFields.InvalidText(ex);
            }
        }

        using var deadline = Deadline.Start(context.RequestAborted, deployment.Settings.Timeout);
        if (TEndpoint.Streams(request))
        {
            HandlerStream stream;
            try
            {
                stream = TEndpoint.Stream(binding.Handler, request, deadline.Token);
            }
            catch (Exception ex)
            {
                throw deadline.Translate(ex, binding.HandlerName);
            }

            await SseStreaming.RunAsync(context, binding, deadline, stream);
            return;
        }

        TResponse response;
        try
        {
            response = await TEndpoint.InvokeAsync(binding.Handler, request, deadline.Token)
                ?? throw new InvalidOperationException($"it returned null instead of a {typeof(TResponse).Name}.");
        }
        catch (Exception ex)
        {
            throw deadline.Translate(ex, binding.HandlerName);
        }

        WriteBuffered<TEndpoint, TRequest, TResponse>(context.Response, binding, request, response);
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    /// <summary>Leases the handler behind <paramref name="model"/>, or throws the error the client should get.</summary>
    private static HandlerLease Lease(ProxyRuntime runtime, string model) =>
        runtime.TryLease(model, out var lease) switch
        {
            LeaseResult.Leased => lease,
            LeaseResult.UnknownModel => throw new OpenAiException(
                400,
                $"Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key.",
                "model",
                "model_not_found"),
            _ => throw new OpenAiException(503, $"Model '{model}' is unavailable: {lease.Route.Unavailable}", "model", "model_unavailable"),
        };

    /// <summary>
    /// Serializes the whole answer into a buffer, then hands it to the response: an answer that cannot be written
    /// fails here, before a byte is sent, as a 500 that names the handler.
    /// </summary>
    private static void WriteBuffered<TEndpoint, TRequest, TResponse>(HttpResponse http, HandlerBinding binding, TRequest request, TResponse response)
        where TEndpoint : IHandlerEndpoint<TRequest, TResponse>
        where TRequest : LlmRequest
        where TResponse : class
    {
        var buffer = JsonBuffer.Rent();
        try
        {
            try
            {
                TEndpoint.Write(buffer.Writer, request, response);
                buffer.Writer.Flush();
            }
            catch (Exception ex)
            {
                var problem = ex is InvalidAnswerException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";
                throw new OpenAiException(500, $"Handler '{binding.HandlerName}' returned an invalid response: {problem}");
            }

            http.ContentType = "application/json";
            http.ContentLength = buffer.Written.Length;
            http.BodyWriter.Write(buffer.Written);
        }
        finally
        {
            JsonBuffer.Return(buffer);
        }
    }
}
