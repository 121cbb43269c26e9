using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Opossum.Gateway.Chat;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.Protection;
using Opossum.Grains;
using Opossum.ServiceDefaults.Configuration;

namespace Opossum.Gateway.OpenAI;

/// <summary>
/// OpenAI's Chat Completions (<c>POST /v1/chat/completions</c>, whole or as server-sent events) and Models
/// (<c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>) over the one chat pipeline: this class reads the request and
/// writes OpenAI's shapes; keys, limits, the cache and the cluster are <see cref="ChatService"/>'s.
/// </summary>
public sealed class OpenAIEndpoint(ChatService chats, ApiKeys keys, OpenAIErrors errors, IOptions<ModelCatalogOptions> catalog,
    IOptions<LimitsOptions> limits)
{
    // The created times (unix seconds) of answers and models.
    private static readonly TimeProvider Clock = TimeProvider.System;

    // A stream cut after its start ends with an error event and a connection closed before the end of the response, since only
    // that makes every client raise (some ignore an error event). The client gets this long to read the event before the cut.
    private static readonly TimeSpan LingerBeforeCut = TimeSpan.FromMilliseconds(250);

    private readonly long _maxRequestBytes = limits.Value.MaxRequestBytes;
    private readonly long _started = Clock.GetUtcNow().ToUnixTimeSeconds();

    public async Task ChatCompletionsAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        context.Response.Headers[ChatHeaders.TraceId] = TraceIds.Current();
        if (keys.Authenticate(context, out var refusal) is not { } caller)
        {
            await Unauthenticated(context, refusal);
            return;
        }
        if (!MediaTypes.IsJsonRequest(context.Request.ContentType))
        {
            // Also what keeps pages elsewhere from driving a gateway without keys through their visitors' browsers:
            // a cross-origin JSON POST needs a CORS preflight, which this door does not answer.
            await OpenAIErrors.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType,
                OpenAIErrors.Detail(ErrorCodes.BadRequest, $"Content-Type must be {MediaTypes.Json} (UTF-8)."));
            return;
        }
        if (await ReadAsync(context) is not { } request)
            return;
        if (request.Stream)
            await StreamAsync(context, request, caller, started);
        else
            await AnswerAsync(context, request, caller, started);
    }

    public async Task ModelsAsync(HttpContext context)
    {
        context.Response.Headers[ChatHeaders.TraceId] = TraceIds.Current();
        if (keys.Authenticate(context, out var refusal) is null)
        {
            await Unauthenticated(context, refusal);
            return;
        }
        var models = catalog.Value.Models.Select(Model).ToList();
        await context.Response.WriteAsJsonAsync(new ModelList(models), OpenAIJsonContext.Default.ModelList, contentType: null, context.RequestAborted);
    }

    public async Task ModelAsync(HttpContext context, string id)
    {
        context.Response.Headers[ChatHeaders.TraceId] = TraceIds.Current();
        if (keys.Authenticate(context, out var refusal) is null)
        {
            await Unauthenticated(context, refusal);
            return;
        }
        if (catalog.Value.Find(id) is not { } model)
        {
            await OpenAIErrors.WriteAsync(context, StatusCodes.Status404NotFound,
                OpenAIErrors.Detail(ErrorCodes.ModelNotFound, $"Model '{id}' is not configured; GET /v1/models lists the models.", "model"));
            return;
        }
        await context.Response.WriteAsJsonAsync(Model(model), OpenAIJsonContext.Default.ModelObject, contentType: null, context.RequestAborted);
    }

    private ModelObject Model(ModelDefinition model) => new(model.Name, _started, model.Backend);

    /// <summary>401 with the Bearer challenge (RFC 6750), counted as every door's refusal is.</summary>
    private static Task Unauthenticated(HttpContext context, string? refusal)
    {
        ClientLimiter.Refuse(null, "unauthenticated");
        context.Response.Headers.WWWAuthenticate = ApiKeys.Challenge;
        return OpenAIErrors.WriteAsync(context, StatusCodes.Status401Unauthorized,
            OpenAIErrors.Detail(ErrorCodes.Unauthenticated, refusal ?? "An API key is required."));
    }

    // A body over the limit is refused by its declared length, or, sent without one, as soon as that much has arrived.
    private async Task<OpenAIChat?> ReadAsync(HttpContext context)
    {
        var http = context.Request;
        try
        {
            if (RequestBodies.Cap(http, _maxRequestBytes))
                return await RequestBodies.ReadWholeAsync(http.BodyReader, ChatHeaders.BypassesCache(http),
                    static (noCache, json) => OpenAIRequests.Read(json, noCache), context.RequestAborted);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Over the limit without a declared length: refused below, as one that declared it.
        }
        catch (OpossumException ex)
        {
            await errors.WriteAsync(context, ex);
            return null;
        }
        await OpenAIErrors.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, OpenAIErrors.Detail(ErrorCodes.BadRequest,
            $"The request body is larger than {_maxRequestBytes} bytes ({OpossumEnvironment.SettingName(LimitsOptions.Section + ":MaxRequestBytes")})."));
        return null;
    }

    private async Task AnswerAsync(HttpContext context, OpenAIChat request, Caller caller, long started)
    {
        ChatReply reply;
        try
        {
            reply = await chats.AnswerAsync(request.Chat, caller, context.RequestAborted);
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            await errors.WriteAsync(context, ex);
            return;
        }
        ChatHeaders.Write(context.Response, reply.Backend, reply.Model, reply.Cached, reply.Joined, started, reply.GenerationTime);
        var calls = reply.ToolCalls is { Count: > 0 } made ? made.Select(c => new MessageToolCall(c.Id, new FunctionCall(c.Name, c.Arguments))).ToList() : null;
        // An answer that is only calls has no content, as OpenAI's.
        var message = new AssistantMessage("assistant", calls is not null && reply.Message.Length == 0 ? null : reply.Message, calls);
        var completion = new ChatCompletion(NewId(), Clock.GetUtcNow().ToUnixTimeSeconds(), request.Chat.Model,
            [new CompletionChoice(0, message, FinishReason(reply))], Usage(reply));
        await context.Response.WriteAsJsonAsync(completion, OpenAIJsonContext.Default.ChatCompletion, contentType: null, context.RequestAborted);
    }

    /// <summary>
    /// Server-sent events as OpenAI sends them: a chunk with the role, chunks with text or pieces of tool calls, one with the
    /// finish reason, the usage chunk when asked, then <c>[DONE]</c>. Each chunk's calls are given out as it comes, and at the end
    /// the reply's calls that no chunk carried: a cached answer (one chunk and the reply) streams the same pieces as a fresh one.
    /// The first chunk is read before anything is written, so that a refusal or a failure before it is an HTTP error; a cut after
    /// it ends the stream with an error event and no <c>[DONE]</c>.
    /// </summary>
    private async Task StreamAsync(HttpContext context, OpenAIChat request, Caller caller, long started)
    {
        var aborted = context.RequestAborted;
        IAsyncEnumerator<ReplyChunk> chunks;
        try
        {
            chunks = (await chats.StreamAsync(request.Chat, caller, aborted)).GetAsyncEnumerator(aborted);
        }
        catch (Exception ex) when (!aborted.IsCancellationRequested)
        {
            await errors.WriteAsync(context, ex);
            return;
        }
        await using (chunks)
        {
            try
            {
                if (!await chunks.MoveNextAsync())
                    throw new OpossumException(ErrorCodes.BackendUnavailable, "The answer ended before it started.");
            }
            catch (Exception ex) when (!aborted.IsCancellationRequested)
            {
                await errors.WriteAsync(context, ex);
                return;
            }
            catch (Exception) when (aborted.IsCancellationRequested)
            {
                return; // the client went away before the stream started
            }

            var first = chunks.Current;
            var response = context.Response;
            ChatHeaders.Write(response, first.Backend, first.Model, first.Cached, first.Joined, started, null);
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "text/event-stream; charset=utf-8";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no"; // proxies such as nginx pass each event on at once
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

            var events = new ChunkEvents(response.BodyWriter, NewId(), Clock.GetUtcNow().ToUnixTimeSeconds(), request.Chat.Model);
            try
            {
                await events.WriteAsync(new ChunkDelta(Role: "assistant", Content: ""), null, aborted);
                var chunk = first;
                var given = 0;
                while (true)
                {
                    if (chunk.Delta.Length > 0)
                        await events.WriteAsync(new ChunkDelta(Content: chunk.Delta), null, aborted);
                    given = await events.WriteCallsAsync(chunk.ToolCalls ?? [], given, aborted);
                    if (chunk.Reply is { } reply)
                    {
                        given = await events.WriteCallsAsync(reply.ToolCalls?.Skip(given).ToList() ?? [], given, aborted);
                        await events.WriteAsync(new ChunkDelta(), FinishReason(reply), aborted);
                        if (request.IncludeUsage)
                            await events.WriteUsageAsync(Usage(reply), aborted);
                        await events.WriteDoneAsync(aborted);
                        return;
                    }
                    if (!await chunks.MoveNextAsync())
                        throw new OpossumException(ErrorCodes.BackendUnavailable, "The answer was cut: the stream ended before the last chunk.");
                    chunk = chunks.Current;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException && aborted.IsCancellationRequested)
            {
                // The client closed the stream: nothing is left to tell it.
            }
            catch (Exception ex)
            {
                await CutAsync(context, events, errors.Map(ex).Error);
            }
        }
    }

    private static async Task CutAsync(HttpContext context, ChunkEvents events, ErrorDetail error)
    {
        try
        {
            await events.WriteErrorAsync(error, context.RequestAborted);
            await Task.Delay(LingerBeforeCut, context.RequestAborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client read the error and left, or had left already.
        }
        context.Abort();
    }

    // The backends say "tool_calls" for an answer with calls, as OpenAI does.
    private static string FinishReason(ChatReply reply) => reply.FinishReason ?? FinishReasons.Stop;

    private static CompletionUsage Usage(ChatReply reply)
    {
        int input = reply.InputTokens ?? 0, output = reply.OutputTokens ?? 0;
        return new CompletionUsage(input, output, input + output);
    }

    private static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");

    /// <summary>The events of one streamed completion, each <c>data: {json}</c> and a blank line, flushed as it is written.</summary>
    private sealed class ChunkEvents(System.IO.Pipelines.PipeWriter body, string id, long created, string model)
    {
        private readonly Utf8JsonWriter _json = new(body);

        public ValueTask WriteAsync(ChunkDelta delta, string? finishReason, CancellationToken cancellationToken) =>
            WriteAsync(new ChatCompletionChunk(id, created, model, [new ChunkChoice(0, delta, finishReason)]), cancellationToken);

        /// <summary>Each call as OpenAI streams one: its id, type and name, then its arguments; numbered on from <paramref name="given"/>.</summary>
        public async ValueTask<int> WriteCallsAsync(IReadOnlyList<ToolCall> calls, int given, CancellationToken cancellationToken)
        {
            foreach (var call in calls)
            {
                await WriteAsync(new ChunkDelta(ToolCalls: [new ToolCallFragment(given, call.Id, new FunctionFragment(call.Name, ""))]), null, cancellationToken);
                await WriteAsync(new ChunkDelta(ToolCalls: [new ToolCallFragment(given, null, new FunctionFragment(null, call.Arguments))]), null, cancellationToken);
                given++;
            }
            return given;
        }

        public ValueTask WriteUsageAsync(CompletionUsage usage, CancellationToken cancellationToken) =>
            WriteAsync(new ChatCompletionChunk(id, created, model, [], usage), cancellationToken);

        public async ValueTask WriteAsync(ChatCompletionChunk chunk, CancellationToken cancellationToken)
        {
            body.Write("data: "u8);
            _json.Reset(body);
            JsonSerializer.Serialize(_json, chunk, OpenAIJsonContext.Default.ChatCompletionChunk);
            body.Write("\n\n"u8);
            await body.FlushAsync(cancellationToken);
        }

        public async ValueTask WriteErrorAsync(ErrorDetail error, CancellationToken cancellationToken)
        {
            body.Write("data: "u8);
            _json.Reset(body);
            JsonSerializer.Serialize(_json, new ErrorResponse(error), OpenAIJsonContext.Default.ErrorResponse);
            body.Write("\n\n"u8);
            await body.FlushAsync(cancellationToken);
        }

        public async ValueTask WriteDoneAsync(CancellationToken cancellationToken)
        {
            body.Write("data: [DONE]\n\n"u8);
            await body.FlushAsync(cancellationToken);
        }
    }
}
