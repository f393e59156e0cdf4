using System.Buffers;
using System.Globalization;
using PluginHost.Configuration;
using PluginHost.Routing;
using PluginHost.Sdk;
using PluginHost.Telemetry;

namespace PluginHost.OpenAi;

/// <summary>
/// The one path every handler endpoint runs through: body (size limit, UTF-8, JSON or form) → model → router
/// (a deployment that can serve now, leased so its plugin version cannot unload) → request → deadline → handler
/// → answer written to a buffer → sent. A failed attempt goes back to the router, which retries it, falls back
/// to another group, or gives up, until an answer (or a stream's first chunk) has been sent. An endpoint
/// supplies only its own reading, handler method and writing (<see cref="IHandlerEndpoint{TRequest, TResponse}"/>).
/// Nothing is sent until the whole answer is serialized, so a malformed answer is always a clean 500 naming the
/// handler; a stream goes through the one SSE path instead.
/// </summary>
internal static class RequestPipeline
{
    /// <summary>The request delegate serving <typeparamref name="TEndpoint"/>.</summary>
    public static RequestDelegate For<TEndpoint, TRequest, TResponse>(ProxyRuntime runtime, Router router)
        where TEndpoint : IHandlerEndpoint<TRequest, TResponse>
        where TRequest : LlmRequest
        where TResponse : class =>
        context => RunAsync<TEndpoint, TRequest, TResponse>(context, runtime, router);

    private static async Task RunAsync<TEndpoint, TRequest, TResponse>(HttpContext context, ProxyRuntime runtime, Router router)
        where TEndpoint : IHandlerEndpoint<TRequest, TResponse>
        where TRequest : LlmRequest
        where TResponse : class
    {
        var config = runtime.Current.Config;
        var settings = config.Router;
        var record = new RequestRecord { Operation = TEndpoint.Operation };
        context.Features.Set(record);
        using var input = await RequestInput.ReadAsync(context, TEndpoint.TakesForm, config.MaxRequestBytes);
        record.RequestedModel = input.Model;
        var overrides = RequestOverrides.Read(context.Request, input);
        var attempts = new RouteAttempts(input.Model, settings, overrides.NumRetries ?? settings.NumRetries, overrides.Fallbacks);
        TRequest? request = null;
        OpenAiException? failure = null;
        var attempt = 0;
        while (true)
        {
            var pick = await router.PickAsync(attempts.Group, TEndpoint.Capability, attempts.Tried);
            if (!pick.Leased)
            {
                var refused = Refused(pick, attempts.Group, input.Model);
                if (pick.Group is not null && attempts.FallBackFromBusy())
                {
                    failure ??= refused;
                    continue;
                }

                throw failure ?? refused;
            }

            var lease = pick.Lease;
            var route = lease.Route;
            var binding = lease.Binding!;
            attempts.Attempting(route.Deployment.Id);
            Note(record, pick.Group!, route, attempts);
            var span = HostSpans.StartAttempt(record, ++attempt);
            Deadline? deadline = null;
            var outcome = Outcome.Running;
            try
            {
                request = request is null
                    ? await Read<TEndpoint, TRequest, TResponse>(input, new RequestTarget(input.Model, route.Deployment, context.RequestServices), config.Limits, context.RequestAborted)
                    : Retarget(request, route.Deployment);
                var streams = record.Stream = TEndpoint.Streams(request);
                deadline = Deadline.Start(context.RequestAborted, overrides.TotalFor(route.Deployment, settings), streams ? overrides.FirstChunkFor(route.Deployment, settings) : null);
                if (streams)
                {
                    var stream = Start<TEndpoint, TRequest, TResponse>(binding, request, deadline);
                    var started = await SseStreaming.StartAsync(binding, deadline, stream);
                    var firstChunk = deadline.Elapsed;
                    record.TimeToFirstChunk = System.Diagnostics.Stopwatch.GetElapsedTime(record.Started);
                    outcome = Outcome.Answering;
                    AddRouteHeaders(context.Response, pick.Group!, route, attempts, router);
                    var usage = record.Usage = await SseStreaming.WriteAsync(context, binding, deadline, started, stream);
                    await router.SucceededAsync(route, firstChunk, usage?.TotalTokens ?? 0);
                    outcome = Outcome.Recorded;
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

                var latency = deadline.Elapsed;
                var buffer = Serialize<TEndpoint, TRequest, TResponse>(binding, request, response);
                try
                {
                    outcome = Outcome.Answering;
                    AddRouteHeaders(context.Response, pick.Group!, route, attempts, router);
                    Send(context.Response, buffer);
                }
                finally
                {
                    JsonBuffer.Return(buffer);
                }

                var used = record.Usage = TEndpoint.UsageOf(response);
                await router.SucceededAsync(route, latency, used?.TotalTokens ?? 0);
                outcome = Outcome.Recorded;
                await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
                return;
            }
            catch (OpenAiException error) when (outcome == Outcome.Running && request is not null && !context.RequestAborted.IsCancellationRequested)
            {
                // The attempt failed before anything was sent: the router counts it and says what comes next.
                var errorClass = ErrorClasses.Of(error.Status, error.Code);
                record.ErrorType = errorClass.ToString();
                await router.FailedAsync(pick.Group!, route, errorClass, error.RetryAfter, settings);
                outcome = Outcome.Recorded;
                failure = error;
                var next = attempts.After(errorClass);
                if (next == RouteNext.GiveUp)
                {
                    // The error says what was tried, as an answer does (the error middleware keeps these headers).
                    AddRouteHeaders(context.Response, pick.Group!, route, attempts, router);
                    throw;
                }

                if (next == RouteNext.Retry)
                {
                    await Task.Delay(RetryWait(error, pick.Group!, settings), context.RequestAborted);
                }
            }
            finally
            {
                if (outcome != Outcome.Recorded)
                {
                    // A bad request, a client that left, or a stream cut after its first chunk: neither success nor failure.
                    router.Abandoned(route);
                }

                HostSpans.EndAttempt(span, record, counted: outcome == Outcome.Recorded, context.RequestAborted.IsCancellationRequested);
                deadline?.Dispose();
                lease.Dispose();
            }
        }
    }

    /// <summary>The attempt about to run, in the request's record.</summary>
    private static void Note(RequestRecord record, ModelGroup group, ModelRoute route, RouteAttempts attempts)
    {
        record.ModelGroup = group.Name;
        record.Deployment = route.Deployment.Id;
        record.ProviderModel = route.Deployment.ProviderModel;
        record.Handler = route.Binding!.HandlerName;
        record.Plugin = route.Binding.Plugin.Name;
        record.PluginGeneration = route.Binding.Plugin.Generation;
        record.Retries = attempts.Retries;
        record.Fallbacks = attempts.Fallbacks;
        record.ErrorType = null;
    }

    private enum Outcome
    {
        /// <summary>The attempt runs; nothing has been sent.</summary>
        Running,

        /// <summary>The answer is being sent: it can no longer be retried.</summary>
        Answering,

        /// <summary>The router has counted the attempt, as a success or a failure.</summary>
        Recorded,
    }

    private static ValueTask<TRequest> Read<TEndpoint, TRequest, TResponse>(RequestInput input, RequestTarget target, RequestLimits limits, CancellationToken cancellationToken)
        where TEndpoint : IHandlerEndpoint<TRequest, TResponse>
        where TRequest : LlmRequest
        where TResponse : class
    {
        if (TEndpoint.TakesForm)
        {
            return TEndpoint.ReadFormAsync(input.Form!, target, limits, cancellationToken);
        }

        try
        {
            return ValueTask.FromResult(TEndpoint.Read(input.Json, target, limits));
        }
        catch (InvalidOperationException ex)
        {
            throw RequestFields.InvalidText(ex);
        }
    }

    /// <summary>The request as another deployment receives it (a retry elsewhere, or a fallback group): its model and settings.</summary>
    private static TRequest Retarget<TRequest>(TRequest request, ModelDeployment deployment)
        where TRequest : LlmRequest =>
        request.Model == deployment.ProviderModel && ReferenceEquals(request.Deployment, deployment.Settings)
            ? request
            : (TRequest)((LlmRequest)request with { Model = deployment.ProviderModel, Deployment = deployment.Settings });

    private static HandlerStream Start<TEndpoint, TRequest, TResponse>(HandlerBinding binding, TRequest request, Deadline deadline)
        where TEndpoint : IHandlerEndpoint<TRequest, TResponse>
        where TRequest : LlmRequest
        where TResponse : class
    {
        try
        {
            return TEndpoint.Stream(binding.Handler, request, deadline.Token);
        }
        catch (Exception ex)
        {
            throw deadline.Translate(ex, binding.HandlerName);
        }
    }

    /// <summary>
    /// How long to wait before a retry: <c>retry_after</c>, or the handler's own retry-after when the group has no
    /// other deployment to turn to (at most 8 s, as LiteLLM's backoff).
    /// </summary>
    private static TimeSpan RetryWait(OpenAiException error, ModelGroup group, RouterSettings settings)
    {
        var told = group.Routes.Count == 1 && error.RetryAfter is { } wait ? TimeSpan.FromTicks(Math.Min(wait.Ticks, TimeSpan.FromSeconds(8).Ticks)) : TimeSpan.Zero;
        return told > settings.RetryAfter ? told : settings.RetryAfter;
    }

    /// <summary>The error for a group none of whose deployments can serve now.</summary>
    private static OpenAiException Refused(RoutePick pick, string group, string model)
    {
        if (pick.Group is null)
        {
            return new OpenAiException(
                400,
                $"Invalid model name passed in model={group}. Call `/v1/models` to view available models for your key.",
                "model",
                "model_not_found");
        }

        var refusal = pick.Refusal!;
        if (refusal.Until is { } until)
        {
            var wait = until - DateTimeOffset.UtcNow;
            return new OpenAiException(429, $"No deployment of model group '{pick.Group.Name}' can take a request now: {refusal.Why}. Try again in {Math.Max(1, Math.Ceiling(wait.TotalSeconds))} s.", "model", "rate_limit_exceeded")
            {
                RetryAfter = wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(1),
            };
        }

        if (refusal.Unavailable is not null || !refusal.Incapable)
        {
            return new OpenAiException(503, $"Model '{model}' is unavailable: {refusal.Unavailable ?? "no deployment has a handler"}", "model", "model_unavailable");
        }

        // LiteLLM's answer for a method the handler does not implement, without entering the handler.
        return new OpenAiException(500, "Not implemented yet!");
    }

    /// <summary>LiteLLM's response headers: which deployment answered, what it took, and the deployment's limits when it has some.</summary>
    private static void AddRouteHeaders(HttpResponse response, ModelGroup group, ModelRoute route, RouteAttempts attempts, Router router)
    {
        var headers = response.Headers;
        var deployment = route.Deployment;
        headers["x-litellm-model-id"] = deployment.Id;
        headers["x-litellm-model-group"] = group.Name;
        headers["x-litellm-attempted-retries"] = Number(attempts.Retries);
        headers["x-litellm-attempted-fallbacks"] = Number(attempts.Fallbacks);
        headers["x-litellm-max-retries"] = Number(attempts.MaxRetries);
        if (deployment.Rpm is null && deployment.Tpm is null)
        {
            return;
        }

        var now = DateTimeOffset.UtcNow;
        var usage = router.State.Usage(deployment.Id, now);
        var reset = $"{60 - (now.ToUnixTimeSeconds() % 60)}s";
        if (deployment.Rpm is { } rpm)
        {
            headers["x-ratelimit-limit-requests"] = Number(rpm);
            headers["x-ratelimit-remaining-requests"] = Number(Math.Max(0, rpm - usage.Requests));
            headers["x-ratelimit-reset-requests"] = reset;
        }

        if (deployment.Tpm is { } tpm)
        {
            headers["x-ratelimit-limit-tokens"] = Number(tpm);
            headers["x-ratelimit-remaining-tokens"] = Number(Math.Max(0, tpm - usage.Tokens));
            headers["x-ratelimit-reset-tokens"] = reset;
        }


        static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Serializes the whole answer into a buffer before anything is sent: an answer that cannot be written fails
    /// here as a 500 that names the handler (and, like any failed attempt, may be retried elsewhere).
    /// Give the buffer back with <see cref="JsonBuffer.Return"/>.
    /// </summary>
    private static JsonBuffer Serialize<TEndpoint, TRequest, TResponse>(HandlerBinding binding, TRequest request, TResponse response)
        where TEndpoint : IHandlerEndpoint<TRequest, TResponse>
        where TRequest : LlmRequest
        where TResponse : class
    {
        var buffer = JsonBuffer.Rent();
        try
        {
            TEndpoint.Write(buffer.Writer, request, response);
            buffer.Writer.Flush();
            return buffer;
        }
        catch (Exception ex)
        {
            JsonBuffer.Return(buffer);
            var problem = ex is InvalidAnswerException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";
            throw new OpenAiException(500, $"Handler '{binding.HandlerName}' returned an invalid response: {problem}");
        }
    }

    private static void Send(HttpResponse http, JsonBuffer buffer)
    {
        http.ContentType = "application/json";
        http.ContentLength = buffer.Written.Length;
        http.BodyWriter.Write(buffer.Written);
    }
}
