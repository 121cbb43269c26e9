using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Opossum.Gateway.Chat;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.Protection;
using Opossum.Grains;
using Opossum.Grains.Storage;
using Opossum.ServiceDefaults.Configuration;


namespace Opossum.Gateway.Ollama;

/// <summary>
/// Ollama's <c>/api/*</c> endpoints over the one chat pipeline (<see cref="ChatService"/>): this class only reads Ollama's requests,
/// writes its answers (NDJSON lines unless <c>stream: false</c>) and reports failures as Ollama does, <c>{"error": "…"}</c> with the
/// status, or as the last line of a stream that already started.
/// </summary>
public sealed class OllamaEndpoints(ChatService chats, ApiKeys keys, IOptions<ModelCatalogOptions> catalog, IOptions<LimitsOptions> limits,
    ChatFailures failures, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    private const string Ndjson = "application/x-ndjson";
    private const string Json = "application/json; charset=utf-8";
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    /// <summary>How long a failed stream's error line stands before the connection is cut.</summary>
    private static readonly TimeSpan CutGrace = TimeSpan.FromSeconds(1);

    // Every model's modified_at: the catalog is read at start-up and does not change while the gateway runs.
    private readonly string _since = Timestamp((clock ?? TimeProvider.System).GetUtcNow());

    public Task ChatAsync(HttpContext context) => AnswerAsync(context, OllamaJson.Default.OllamaChatRequest, OllamaRequests.Chat,
        static r => r.Model, static r => r.Stream, generate: false);

    public Task GenerateAsync(HttpContext context) => AnswerAsync(context, OllamaJson.Default.OllamaGenerateRequest, OllamaRequests.Generate,
        static r => r.Model, static r => r.Stream, generate: true);

    public async Task TagsAsync(HttpContext context)
    {
        if (Admit(context, out var refusal) is null) { await RefuseAsync(context, refusal); return; }
        await WriteAsync(context, StatusCodes.Status200OK, new OllamaModels(catalog.Value.Models.Select(m =>
            new OllamaModel(m.Name, m.Name, _since, 0, Digest(m.Name), Details(m))).ToList()), OllamaJson.Default.OllamaModels);
    }

    /// <summary>No model is held in the gateway's memory: loading is the backends' servers' business.</summary>
    public async Task RunningAsync(HttpContext context)
    {
        if (Admit(context, out var refusal) is null) { await RefuseAsync(context, refusal); return; }
        await WriteAsync(context, StatusCodes.Status200OK, new OllamaRunningModels([]), OllamaJson.Default.OllamaRunningModels);
    }

    public async Task VersionAsync(HttpContext context)
    {
        if (Admit(context, out var refusal) is null) { await RefuseAsync(context, refusal); return; }
        await WriteAsync(context, StatusCodes.Status200OK, new OllamaVersion(OllamaDoor.ApiVersion), OllamaJson.Default.OllamaVersion);
    }

    public async Task ShowAsync(HttpContext context)
    {
        if (Admit(context, out var refusal) is null) { await RefuseAsync(context, refusal); return; }
        string? name = null;
        try
        {
            var request = await ReadAsync(context, OllamaJson.Default.OllamaShowRequest);
            name = request.Model ?? request.Name;
            var model = string.IsNullOrWhiteSpace(name) ? throw OpossumException.BadInput("model is required", "model")
                : catalog.Value.Find(name) ?? throw NotFound(name);
            List<string> capabilities = ["completion"];
            if (model.SupportsImages) capabilities.Add("vision");
            if (model.SupportsTools) capabilities.Add("tools");
            await WriteAsync(context, StatusCodes.Status200OK, new OllamaShowResponse("", "", "", Details(model),
                new Dictionary<string, string> { ["general.architecture"] = model.Backend }, capabilities, _since), OllamaJson.Default.OllamaShowResponse);
        }
        catch (Exception ex) when (Failure(ex, context, name) is { } failure)
        {
            await WriteErrorAsync(context, failure);
        }
    }

    public async Task ManageAsync(HttpContext context)
    {
        if (Admit(context, out var refusal) is null) { await RefuseAsync(context, refusal); return; }
        await WriteErrorAsync(context, new Failed(StatusCodes.Status403Forbidden,
            "this gateway does not manage models: pull, push, create, copy and delete them on the backends' Ollama servers", null));
    }

    // The trace id goes on every response, refusals included; a refused key is counted as GraphQL counts it.
    private Caller? Admit(HttpContext context, out string? problem)
    {
        context.Response.Headers[ChatHeaders.TraceId] = TraceIds.Current();
        return keys.Authenticate(context, out problem);
    }

    private static async Task RefuseAsync(HttpContext context, string? problem)
    {
        ClientLimiter.Refuse(null, "unauthenticated");
        context.Response.Headers.WWWAuthenticate = ApiKeys.Challenge;
        await WriteErrorAsync(context, new Failed(StatusCodes.Status401Unauthorized, problem!, null));
    }

    private async Task AnswerAsync<TRequest>(HttpContext context, JsonTypeInfo<TRequest> type, Func<TRequest, bool, StatelessChat?> read,
        Func<TRequest, string?> model, Func<TRequest, bool?> stream, bool generate)
    {
        var started = Stopwatch.GetTimestamp();
        if (Admit(context, out var refusal) is not { } caller) { await RefuseAsync(context, refusal); return; }
        var aborted = context.RequestAborted;
        IAsyncEnumerator<ReplyChunk>? chunks = null;
        string? asked = null;
        try
        {
            var request = await ReadAsync(context, type);
            asked = model(request);
            var chat = read(request, ChatHeaders.BypassesCache(context.Request));
            if (chat is null)
            {
                // Ollama loads the model for a request without messages (or prompt); the backends' servers load their own.
                if (catalog.Value.Find(asked!) is null)
                    throw NotFound(asked!);
                await WriteAsync(context, StatusCodes.Status200OK, Loaded(asked!, generate), OllamaJson.Default.OllamaReply);
                return;
            }
            if (stream(request) == false)
            {
                var reply = await chats.AnswerAsync(chat, caller, aborted);
                ChatHeaders.Write(context.Response, reply.Backend, reply.Model, reply.Cached, reply.Joined, started, reply.GenerationTime);
                await WriteAsync(context, StatusCodes.Status200OK, Final(reply, reply.Message, reply.ToolCalls, started, generate), OllamaJson.Default.OllamaReply);
                return;
            }

            // The first chunk is read before anything is written: a failure until then is an error status, not a broken stream.
            chunks = (await chats.StreamAsync(chat, caller, aborted)).GetAsyncEnumerator(aborted);
            if (!await chunks.MoveNextAsync())
                throw new OpossumException(ErrorCodes.BackendUnavailable, "The answer ended before its first chunk.");
        }
        catch (Exception ex) when (Failure(ex, context, asked) is { } failure)
        {
            if (chunks is not null)
                await chunks.DisposeAsync();
            await WriteErrorAsync(context, failure);
            return;
        }

        await using (chunks)
        {
            var first = chunks.Current;
            ChatHeaders.Write(context.Response, first.Backend, first.Model, first.Cached, first.Joined, started, null);
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = Ndjson;
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            try
            {
                var chunk = first;
                var called = 0;
                while (true)
                {
                    if (chunk.Delta.Length > 0)
                        await WriteLineAsync(context, Line(chunk.Model, chunk.Delta, generate), aborted);
                    // Each call on a line of its own, the chunk's, then the reply's not given yet: a cached answer streams the same lines.
                    var calls = (chunk.ToolCalls ?? []).ToList();
                    calls.AddRange(chunk.Reply?.ToolCalls?.Skip(called + calls.Count) ?? []);
                    foreach (var call in calls)
                        await WriteLineAsync(context, Called(chunk.Model, call, called++), aborted);
                    if (chunk.Reply is { } reply)
                    {
                        await WriteLineAsync(context, Final(reply, "", null, started, generate), aborted);
                        return;
                    }
                    if (!await chunks.MoveNextAsync())
                        throw new OpossumException(ErrorCodes.BackendUnavailable, "The answer ended before its last chunk.");
                    chunk = chunks.Current;
                }
            }
            catch (Exception ex) when (!aborted.IsCancellationRequested && Failure(ex, context, asked) is { } failure)
            {
                // Ollama's own way to end a stream that failed: a last line with the error, which its clients raise. The response then
                // ends without HTTP's end of body, so that a client that reads no error lines (OllamaSharp) raises too; not at once,
                // since a client that sees the connection fail may drop what it received but has not read yet (fetch does).
                await WriteLineAsync(context, new OllamaError(failure.Message), aborted);
                await Task.Delay(CutGrace, _clock, aborted);
                context.Abort();
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException && aborted.IsCancellationRequested)
            {
                // The client went away: nobody is left to tell.
            }
        }
    }

    private sealed record Failed(int Status, string Message, TimeSpan? RetryAfter);

    /// <summary>What the client is told about <paramref name="exception"/>; null when it left and nothing is to be told.</summary>
    /// <param name="model">The model the request asked for: the pipeline's message lists the configured ones, Ollama's clients know a shorter one.</param>
    private Failed? Failure(Exception exception, HttpContext context, string? model = null)
    {
        if (context.RequestAborted.IsCancellationRequested && exception is OperationCanceledException or IOException)
            return null;
        return exception switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => TooLarge(),
            JsonException ex => new Failed(StatusCodes.Status400BadRequest, $"invalid request body: {ex.Message}", null),
            _ => failures.Classify(exception, "the Ollama door") switch
            {
                { Code: ErrorCodes.ModelNotFound } when model is not null => new Failed(StatusCodes.Status404NotFound, $"model '{model}' not found", null),
                var known => new Failed(ChatHeaders.StatusOf(known.Code), known.Message, known.RetryAfter),
            },
        };
    }

    private Failed TooLarge() => new(StatusCodes.Status413PayloadTooLarge,
        $"The request body is larger than {limits.Value.MaxRequestBytes} bytes ({OpossumEnvironment.SettingName(LimitsOptions.Section + ":MaxRequestBytes")}).", null);

    private static OpossumException NotFound(string model) =>
        new(ErrorCodes.ModelNotFound, $"Model '{model}' is not configured.", param: "model");

    /// <summary>The body as <typeparamref name="T"/>, refused (413) as soon as it is over the limit.</summary>
    private async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type)
    {
        if (!RequestBodies.Cap(context.Request, limits.Value.MaxRequestBytes))
            throw new BadHttpRequestException("too large", StatusCodes.Status413PayloadTooLarge);
        // Ollama reads the body whatever its Content-Type says: its own examples post JSON with curl -d.
        return await RequestBodies.ReadWholeAsync(context.Request.BodyReader, type, static (type, body) =>
        {
            if (body.IsEmpty)
                throw new JsonException("the body is empty; send a JSON object.");
            var reader = new Utf8JsonReader(body);
            return JsonSerializer.Deserialize(ref reader, type) ?? throw new JsonException("the body must be a JSON object.");
        }, context.RequestAborted);
    }

    private OllamaReply Line(string model, string text, bool generate) =>
        generate ? new(model, Now(), null, text, false) : new(model, Now(), new("assistant", text), null, false);

    private OllamaReply Called(string model, ToolCall call, int index) =>
        new(model, Now(), new("assistant", "", OllamaTools.Written([call], index)), null, false);

    private OllamaReply Final(ChatReply reply, string text, IReadOnlyList<ToolCall>? calls, long started, bool generate) => new(
        reply.Model, Now(), generate ? null : new("assistant", text, calls is { Count: > 0 } ? OllamaTools.Written(calls, 0) : null), generate ? text : null, true,
        // Ollama says "stop" when the model called tools too: its clients look for tool_calls, not for a reason.
        DoneReason: reply.FinishReason is null or FinishReasons.ToolCalls ? FinishReasons.Stop : reply.FinishReason,
        TotalDuration: Nanoseconds(Stopwatch.GetElapsedTime(started)),
        LoadDuration: 0,
        PromptEvalCount: reply.InputTokens,
        PromptEvalDuration: 0,
        EvalCount: reply.OutputTokens,
        EvalDuration: Nanoseconds(reply.GenerationTime ?? TimeSpan.Zero));

    private OllamaReply Loaded(string model, bool generate) =>
        new(model, Now(), generate ? null : new("assistant", ""), generate ? "" : null, true, DoneReason: "load");

    private static OllamaModelDetails Details(ModelDefinition model) => new("", "", model.Backend, [model.Backend], "", "");

    // A stable digest per model name: Ollama's clients show it and tell models apart by it.
    private static string Digest(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)));

    private static long Nanoseconds(TimeSpan span) => span.Ticks * 100;

    private string Now() => Timestamp(_clock.GetUtcNow());

    private static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    private static async Task WriteAsync<T>(HttpContext context, int status, T value, JsonTypeInfo<T> type)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(value, type);
        context.Response.StatusCode = status;
        context.Response.ContentType = Json;
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    private static Task WriteErrorAsync(HttpContext context, Failed failure)
    {
        if (failure.RetryAfter is { } wait)
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return WriteAsync(context, failure.Status, new OllamaError(failure.Message), OllamaJson.Default.OllamaError);
    }

    private static async Task WriteLineAsync<T>(HttpContext context, T value, CancellationToken cancellationToken)
    {
        var writer = context.Response.BodyWriter;
        using (var json = new Utf8JsonWriter(writer))
            JsonSerializer.Serialize(json, value, (JsonTypeInfo<T>)OllamaJson.Default.GetTypeInfo(typeof(T))!);
        writer.Write(NewLine);
        await writer.FlushAsync(cancellationToken);
    }
}
